"""Cities declare the datum of each file and load in WGS-84: no false deviation for a route drawn on a GCJ-02 map."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from devices.contracts import LoadState, VehiclePosition
from devices.datum import from_wgs84
from devices.inventory import CityConfigError, load_city
from rules.engine import Engine
from rules.geometry import haversine_m

MIN_CITY = Path(__file__).resolve().parents[1] / "data" / "city_min"
T0 = 1_790_000_000_000
WGS_ROUTE = [(114.300, 30.590), (114.305, 30.590), (114.310, 30.5905), (114.320, 30.590)]


def gcj(points: list[tuple[float, float]], datum: str = "GCJ-02") -> list[list[float]]:
    """Return WGS-84 points as a Chinese web map would draw them."""
    lon, lat = from_wgs84([p[0] for p in points], [p[1] for p in points], datum)
    return [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]


def city_drawn_on(tmp_path: Path, datum: str | None, *, file_datum: str = "GCJ-02") -> Path:
    """Copy the minimal city with its permit route (and grid) drawn on a ``file_datum`` map; declare ``datum``."""
    root = tmp_path / "city"
    shutil.copytree(MIN_CITY, root)
    permits = yaml.safe_load((root / "permits.yaml").read_text(encoding="utf-8"))
    permits[0]["route"] = gcj(WGS_ROUTE, file_datum)
    (root / "permits.yaml").write_text(yaml.safe_dump(permits, allow_unicode=True), encoding="utf-8")
    grid = json.loads((root / "grid.geojson").read_text(encoding="utf-8"))
    for feature in grid["features"]:
        feature["geometry"]["coordinates"] = [gcj(ring, file_datum) for ring in feature["geometry"]["coordinates"]]
    (root / "grid.geojson").write_text(json.dumps(grid), encoding="utf-8")
    if datum is not None:
        meta = yaml.safe_load((root / "city.yaml").read_text(encoding="utf-8"))
        meta["datums"] = {"permits.yaml": datum, "grid.geojson": datum}
        (root / "city.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    return root


def drive(route: list[tuple[float, float]], step_m: float = 20.0) -> list[VehiclePosition]:
    """Return WGS-84 fixes every ``step_m`` along a route, as a JT/T 808 terminal reports them, 4 s apart."""
    fixes: list[tuple[float, float]] = []
    for (x0, y0), (x1, y1) in itertools.pairwise(route):
        n = max(1, int(haversine_m(x0, y0, x1, y1) / step_m))
        fixes += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n)]
    return [
        VehiclePosition.model_validate(
            {
                "device_id": "gps-m1",
                "ts_ms": T0 + 4_000 * i,
                "seq": i,
                "lon": lon,
                "lat": lat,
                "speed_kmh": 18.0,
                "heading_deg": 90.0,
                "load_state": LoadState.FULL,
                "cover_closed": True,
            }
        )
        for i, (lon, lat) in enumerate(fixes)
    ]


def deviations(root: Path) -> list[str]:
    """Run the truck along the WGS-84 route through the engine and return the rules that fired."""
    engine, state, fired = Engine(load_city(root)), None, []
    for fix in drive(WGS_ROUTE):
        out = engine.process(state, fix)
        state, fired = out.state, fired + [a.rule for a in out.alerts]
    return fired


@pytest.mark.parametrize("datum", ["GCJ-02", "gcj02", "火星坐标"])
def test_a_gcj02_route_is_converted_once_at_load(tmp_path: Path, datum: str) -> None:
    city = load_city(city_drawn_on(tmp_path, datum))
    route = np.asarray(city.permits[0].route)
    assert haversine_m(route[:, 0], route[:, 1], *np.asarray(WGS_ROUTE).T).max() < 0.01  # < 1 cm
    assert city.meta.datum == "WGS-84" and city.meta.datums == {}  # what the loaded city now is
    assert city.grid[0].polygon[0][0][0] == pytest.approx((114.29, 30.58), abs=1e-8)


def test_a_truck_driving_a_gcj02_route_does_not_deviate(tmp_path: Path) -> None:
    assert "route_deviation" not in deviations(city_drawn_on(tmp_path, "GCJ-02"))


def test_the_same_route_taken_as_wgs84_would_be_a_false_deviation(tmp_path: Path) -> None:
    root = city_drawn_on(tmp_path, None)  # the mistake the declaration prevents
    offset = haversine_m(*WGS_ROUTE[0], *load_city(root).permits[0].route[0])
    assert 300 < offset < 700
    assert "route_deviation" in deviations(root)


def test_a_baidu_route_converts_too(tmp_path: Path) -> None:
    assert "route_deviation" not in deviations(city_drawn_on(tmp_path, "BD-09", file_datum="BD-09"))


def test_a_default_datum_applies_to_every_file(tmp_path: Path) -> None:
    root = city_drawn_on(tmp_path, None)
    meta = yaml.safe_load((root / "city.yaml").read_text(encoding="utf-8"))
    meta |= {"datum": "GCJ-02", "center": gcj([tuple(meta["center"])])[0]}
    (root / "city.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    city = load_city(root)
    assert city.meta.center == pytest.approx(tuple(meta["center"]), abs=0.01)
    assert haversine_m(*city.meta.center, *load_city(MIN_CITY).meta.center) < 0.01
    assert "route_deviation" not in deviations(root)


@pytest.mark.parametrize(
    ("datums", "expected"),
    [
        ({"permits.yaml": "UTM"}, r"city\.yaml: datums\.permits\.yaml: Value error, unknown datum"),
        (
            {"permit.yaml": "GCJ-02"},
            r"city\.yaml: datums: Value error, datums names unknown file\(s\) \['permit\.yaml'\]",
        ),
    ],
)
def test_a_bad_declaration_names_the_file_and_the_choices(
    tmp_path: Path, datums: dict[str, str], expected: str
) -> None:
    root = city_drawn_on(tmp_path, None)
    meta = yaml.safe_load((root / "city.yaml").read_text(encoding="utf-8")) | {"datums": datums}
    (root / "city.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    with pytest.raises(CityConfigError, match=expected):
        load_city(root)
