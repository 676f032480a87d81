"""Tickets take the grid cell, unit and owner the rules stamped on an alert; the city is asked only without them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from devices.inventory import load_city
from rules.alerts import Alert, Phase, Severity
from tickets.config import config_for_city
from tickets.routing import CityResolver, stamped

REPO = Path(__file__).resolve().parents[2]
CITY = load_city(REPO / "cities" / "demo")
CELL = next(c for c in CITY.grid if getattr(c, "unit", ""))
LON, LAT = (float(v) for v in np.asarray(CELL.polygon[0][0], dtype=float).mean(axis=0))  # inside the (convex) cell


def alert(**routing: str) -> Alert:
    return Alert("a-1", "overflow", Phase.OPEN, "fill-s01", 1, 1, LON, LAT, Severity.MAJOR, "06042", {}, **routing)


@pytest.fixture
def resolver() -> CityResolver:
    return CityResolver(config_for_city(REPO / "cities" / "demo"), CITY)


def test_the_rules_routing_is_taken_as_stamped_without_a_grid_lookup(
    resolver: CityResolver, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup(lon: float, lat: float) -> dict[str, str]:
        raise AssertionError("the grid was looked up again")

    monkeypatch.setattr(resolver, "_from_grid", no_lookup)
    a = alert(grid_code="G-STAMPED", unit="单位-甲", owner="某环卫公司")
    routed = resolver(a.subject, a.matter_code, a.lon, a.lat, stamped(a))
    assert (routed.grid_cell, routed.unit, routed.owner) == ("G-STAMPED", "单位-甲", "某环卫公司")


def test_an_alert_without_routing_is_placed_by_the_city_grid(resolver: CityResolver) -> None:
    a = alert()
    assert stamped(a) == {}
    routed = resolver(a.subject, a.matter_code, a.lon, a.lat, stamped(a))
    assert (routed.grid_cell, routed.unit) == (CELL.code, CELL.unit)


def test_evidence_that_names_a_unit_still_wins_over_the_stamp(resolver: CityResolver) -> None:
    a = alert(grid_code=CELL.code, unit="单位-甲")
    routed = resolver(a.subject, a.matter_code, a.lon, a.lat, {**stamped(a), "unit": "督办单位"})
    assert routed.unit == "督办单位"
