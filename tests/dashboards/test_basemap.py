"""The fleet map's base maps: positions shifted in Flux exactly as devices.datum shifts them on GCJ-02 tiles
(AMap, a GCJ-02 mirror), left in WGS-84 on Tianditu, WGS-84 tile servers and the tile-less map."""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
import pytest
from pydantic import ValidationError

from citywatch.settings import Settings
from dashboards.basemap import DATUM, GCJ02_FLUX, Basemap, MapSettings, on_basemap, tianditu_tiles
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


def geomap(board: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in board["panels"] if p["type"] == "geomap")


def test_tianditu_draws_its_vector_tiles_and_labels_with_the_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CITYWATCH_MAP_BASEMAP", "tianditu")
    monkeypatch.setenv("CITYWATCH_MAP_TIANDITU_KEY", "0123abcd")
    panel = geomap(fleet_map(basemap=Settings().map_settings()))
    base, labels = panel["options"]["basemap"], panel["options"]["layers"][0]
    assert base["type"] == labels["type"] == "xyz"
    assert base["config"]["url"] == (
        "https://t{0-7}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
        "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=0123abcd"
    )
    assert labels["config"]["url"] == tianditu_tiles("cva", "0123abcd") and "/cva_w/" in labels["config"]["url"]
    assert all(t["query"] in QUERIES.values() for t in panel["targets"])  # CGCS2000 tiles: WGS-84 points, no shift


def test_a_tile_base_map_without_its_url_or_key_is_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CITYWATCH_MAP_TIANDITU_KEY", "CITYWATCH_MAP_TILES_URL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValidationError, match="CITYWATCH_MAP_TIANDITU_KEY"):
        fleet_map(basemap="tianditu")
    with pytest.raises(ValidationError, match="CITYWATCH_MAP_TIANDITU_KEY"):
        Settings(map_basemap="tianditu").map_settings()
    with pytest.raises(ValidationError, match="needs CITYWATCH_MAP_TILES_URL"):
        MapSettings(basemap="xyz")
    with pytest.raises(ValidationError, match=r"lacks \{y\} or \{-y\}"):
        MapSettings(basemap="xyz", tiles_url="http://tiles.local/{z}/{x}.png")


@pytest.mark.parametrize(("kind", "shifted"), [("xyz", False), ("xyz-gcj02", True)])
def test_a_self_hosted_tile_server_gets_points_in_its_datum(kind: Basemap, shifted: bool) -> None:
    tiles = MapSettings(basemap=kind, tiles_url="http://10.0.0.5/tiles/{z}/{x}/{-y}.png", tiles_attribution="© 本地")
    panel = geomap(fleet_map(basemap=tiles))
    assert panel["options"]["basemap"]["config"] == {"url": tiles.tiles_url, "attribution": "© 本地"}
    assert all(t["query"].endswith("|> map(fn: toGcj02)") == shifted for t in panel["targets"])
    assert DATUM[kind] == ("GCJ-02" if shifted else "WGS-84")


def test_every_base_map_keeps_the_map_centred_on_the_city_in_its_datum() -> None:
    views = {m: geomap(fleet_map(basemap=m))["options"]["view"] for m in ("default", "amap", "none")}
    assert views["default"] == views["none"] and (views["default"]["lon"], views["default"]["lat"]) == (114.30, 30.59)
    lon, lat = from_wgs84(114.30, 30.59, "GCJ-02")
    assert (views["amap"]["lon"], views["amap"]["lat"]) == pytest.approx((float(lon), float(lat)), abs=1e-12)
    assert set(DATUM) == set(get_args(Basemap))
