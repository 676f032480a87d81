"""The fleet map on a GCJ-02 base map (AMap tiles): positions shifted in Flux exactly as devices.datum shifts them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dashboards.basemap import GCJ02_FLUX, on_basemap
from dashboards.build import fleet_map
from dashboards.geo import corridors_geojson
from dashboards.queries import QUERIES
from devices.datum import from_wgs84
from devices.inventory import load_city
from streams.timeseries.writer import InfluxConfig
from tests.conftest import Influx
from tests.e2e.harness import REPO


def flux_shift(influx: Influx, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run ``toGcj02`` on the real InfluxDB over rows of (lon, lat) given as annotated CSV."""
    rows = "\n".join(f",,0,{i},{float(x)!r},{float(y)!r}" for i, (x, y) in enumerate(zip(lon, lat, strict=True)))
    data = f"#datatype,string,long,long,double,double\n#group,false,false,false,false,false\n#default,_result,,,,\n,result,table,i,lon,lat\n{rows}\n"
    query = f'import "csv"\n{GCJ02_FLUX}\ncsv.from(csv: "{data}")\n  |> map(fn: toGcj02)'
    with InfluxConfig(influx.url, influx.token, influx.org, influx.bucket).client() as client:
        records: list[Any] = [r for t in client.query_api().query(query) for r in t.records]
    records.sort(key=lambda r: r["i"])
    return np.array([r["lon"] for r in records]), np.array([r["lat"] for r in records])


@pytest.mark.services
def test_the_flux_shift_is_the_python_shift(influx: Influx) -> None:
    rng = np.random.default_rng(11)
    lon = np.concatenate([rng.uniform(73.5, 135.0, 200), [114.30, 116.3975, 121.4737, -0.1276, 139.6917, 151.2093]])
    lat = np.concatenate([rng.uniform(18.0, 53.5, 200), [30.59, 39.9087, 31.2304, 51.5072, 35.6895, -33.8688]])
    got_lon, got_lat = flux_shift(influx, lon, lat)
    want_lon, want_lat = from_wgs84(lon, lat, "GCJ-02")
    assert len(got_lon) == len(lon)
    assert np.abs(got_lon - want_lon).max() < 1e-9 and np.abs(got_lat - want_lat).max() < 1e-9
    assert np.array_equal(got_lon[-3:], lon[-3:])  # London, Tokyo, Sydney: outside the box, not shifted
    assert np.hypot(got_lon[:200] - lon[:200], got_lat[:200] - lat[:200]).min() > 0.0005  # every Chinese point moved


def test_an_amap_fleet_map_shifts_every_layer_and_the_corridors() -> None:
    plain, amap = fleet_map(), fleet_map(basemap="amap")
    assert plain["panels"][0]["options"]["basemap"]["type"] == "default"
    assert amap["panels"][0]["options"]["basemap"]["type"] == "xyz"
    assert all(t["query"] in QUERIES.values() for t in plain["panels"][0]["targets"])
    for t in amap["panels"][0]["targets"]:
        assert t["query"].startswith('import "math"') and t["query"].endswith("|> map(fn: toGcj02)")
    assert on_basemap(QUERIES["fleet_positions"], "default") == QUERIES["fleet_positions"]
    city = load_city(REPO / "cities" / "demo")
    wgs, gcj = corridors_geojson(city), corridors_geojson(city, "GCJ-02")
    (x0, y0), (x1, y1) = (
        wgs["features"][0]["geometry"]["coordinates"][0],
        gcj["features"][0]["geometry"]["coordinates"][0],
    )
    assert (x1, y1) == pytest.approx(tuple(float(v) for v in from_wgs84(x0, y0, "GCJ-02")), abs=1e-12)
