"""Per-segment speed limits: the city index lookup, and speeding timelines through the engine.

The test city's permit route runs east along lat 30.59 from lon 114.30 to 114.32; roads put a
30 km/h old-town stretch on its west end and a 60 km/h expressway on its east end. Timelines are
rows of (t_s, lon, speed_kmh) on that line; the summaries are (phase, t_s, episode_start_s).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devices.inventory import City, load_city
from rules.alerts import Alert
from rules.city_index import CityIndex
from rules.engine import Engine
from tests.rules.test_engine import T0, pos, run

CITY_DIR = Path(__file__).resolve().parent.parent / "data" / "city_min"
LAT = 30.59
OLD_TOWN, URBAN, EXPRESSWAY = 114.303, 114.309, 114.316  # lon on the route, on each kind of road
ROADS = [
    {"segment_id": "R-OLD", "name": "老城街", "polyline": [[114.300, LAT], [114.306, LAT]], "limit_kmh": 30},
    {"segment_id": "R-EXPY", "name": "快速路", "polyline": [[114.312, LAT], [114.320, LAT]], "limit_kmh": 60},
    {"segment_id": "R-GATE", "name": "校门口", "polyline": [[114.302, LAT], [114.304, LAT]], "limit_kmh": 20,
     "half_width_m": 10, "vehicle_kinds": ["garbage"]},
]  # fmt: skip
Row = tuple[float, float, float]


@pytest.fixture(scope="module")
def city() -> City:
    return load_city(CITY_DIR).model_copy(update={"roads": ROADS})


def speeding(city: City, rows: list[Row], device: str = "gps-m1") -> list[Alert]:
    """Run (t_s, lon, speed_kmh) rows through the engine; return the speeding alerts."""
    events = [pos(i, t, LAT, device=device, lon=lon, speed_kmh=v) for i, (t, lon, v) in enumerate(rows)]
    _, alerts = run(Engine(city), events)
    return [a for a in alerts if a.rule == "speeding"]


def summary(alerts: list[Alert]) -> list[tuple[str, float, float]]:
    return [(a.phase.value, (a.ts_ms - T0) / 1000, (a.episode_start_ms - T0) / 1000) for a in alerts]


def test_lookup_gives_the_lowest_limit_of_the_segments_for_the_kind(city: City) -> None:
    index = CityIndex(city)
    assert index.speed_limit_at(OLD_TOWN, LAT, "muck") == 30.0  # the garbage-only gate segment does not apply
    assert index.speed_limit_at(OLD_TOWN, LAT, "garbage") == 20.0
    assert index.speed_limit_at(OLD_TOWN, LAT + 0.00012, "garbage") == 30.0  # 13 m off: outside the 10 m gate
    assert index.speed_limit_at(OLD_TOWN, LAT, None) == 20.0  # an unknown truck: every segment applies
    assert index.speed_limit_at(EXPRESSWAY, LAT, "muck") == 60.0
    assert index.speed_limit_at(URBAN, LAT, "muck") is None  # urban default
    assert index.speed_limit_at(EXPRESSWAY, LAT + 0.001, "muck") is None  # 111 m north of the expressway
    road = index.road_at(EXPRESSWAY, LAT, "garbage")
    assert road is not None and road.segment_id == "R-EXPY"


def test_a_city_without_roads_has_no_segment_limits() -> None:
    index = CityIndex(load_city(CITY_DIR))
    assert index.speed_limit_at(OLD_TOWN, LAT, "muck") is None and index.road_at(URBAN, LAT, None) is None


def test_a_speed_legal_on_urban_roads_opens_on_a_low_limit_segment(city: City) -> None:
    rows = [(t, OLD_TOWN, 36.0) for t in range(0, 50, 10)] + [(50, OLD_TOWN, 28.0)]
    alerts = speeding(city, rows)
    assert summary(alerts) == [("open", 30, 0), ("clear", 50, 0)]
    assert alerts[0].evidence == {"speed_kmh": 36.0, "limit_kmh": 30.0, "tolerance_kmh": 0.0, "max_speed_kmh": 36.0,
                                  "max_over_kmh": 6.0, "duration_s": 30.0, "segment_id": "R-OLD"}  # fmt: skip
    assert speeding(city, [(t, URBAN, 36.0) for t in range(0, 120, 10)]) == []


def test_a_speed_illegal_on_urban_roads_does_not_open_on_the_expressway(city: City) -> None:
    assert speeding(city, [(t, EXPRESSWAY, 55.0) for t in range(0, 120, 10)]) == []
    alerts = speeding(city, [(t, URBAN, 55.0) for t in range(0, 50, 10)])
    assert summary(alerts) == [("open", 30, 0)] and "segment_id" not in alerts[0].evidence


def test_leaving_the_expressway_fast_starts_the_episode_on_the_urban_road(city: City) -> None:
    # westbound at 55 km/h (153 m a report): expressway, urban road, then slowing in the old town
    rows = [(0, 114.3145, 55.0), (10, 114.3129, 55.0), (20, 114.3113, 55.0), (30, 114.3097, 55.0),
            (40, 114.3081, 55.0), (50, 114.3065, 55.0), (60, 114.3049, 35.0), (70, 114.3039, 25.0)]  # fmt: skip
    alerts = speeding(city, rows)
    assert summary(alerts) == [("open", 50, 20), ("clear", 70, 20)]  # 35 km/h in the old town is still over 30
    assert alerts[0].evidence["limit_kmh"] == 40.0 and "segment_id" not in alerts[0].evidence
    assert alerts[1].evidence["limit_kmh"] == 30.0 and alerts[1].evidence["segment_id"] == "R-OLD"


def test_a_segment_for_other_kinds_does_not_lower_the_limit(city: City) -> None:
    gate = 114.303
    assert speeding(city, [(t, gate, 25.0) for t in range(0, 120, 10)]) == []  # muck truck: 30 km/h applies
    alerts = speeding(city, [(t, gate, 25.0) for t in range(0, 50, 10)], device="gps-g1")
    assert summary(alerts) == [("open", 30, 0)] and alerts[0].evidence["segment_id"] == "R-GATE"


def test_an_untrusted_fix_on_the_expressway_does_not_clear_an_urban_episode(city: City) -> None:
    # a GPS jump of ~700 m in 10 s (over 180 km/h) onto the expressway is kept from the speeding rule
    rows = [(t, URBAN, 55.0) for t in range(0, 40, 10)] + [(40, EXPRESSWAY, 55.0)] + [(50, URBAN, 55.0)]
    alerts = speeding(city, rows)
    assert summary(alerts) == [("open", 30, 0)]
