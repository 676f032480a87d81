"""Facility rules (stations and bins): overflow bands, odour, fill forecast."""

from __future__ import annotations

from typing import Any

from devices.contracts import FacilityReading
from rules import fill_forecast, odour, overflow
from rules.city_index import CityIndex
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, state_of
from rules.pipelines.fixed import seen_rule


def _where(index: CityIndex, reading: FacilityReading, rule: str) -> dict[str, Any]:
    facility = index.facilities[reading.device_id]
    return {
        "subject": reading.device_id,
        "matter_code": index.matter_code(rule),
        "lon": facility.lon,
        "lat": facility.lat,
    }


def overflow_rule(index: CityIndex, rules: Rules, reading: FacilityReading, out: RuleOutput) -> None:
    """Fill-ratio bands."""
    name = overflow.RULE
    rules[name], alerts = overflow.step(
        state_of(rules, name), reading, index.params.overflow, **_where(index, reading, name)
    )
    out.alerts += alerts


def odour_rule(index: CityIndex, rules: Rules, reading: FacilityReading, out: RuleOutput) -> None:
    """NH3 / H2S over the facility's grade."""
    name, grade = odour.RULE, index.facilities[reading.device_id].odour_grade
    rules[name], alerts = odour.step(
        state_of(rules, name), reading, index.params.odour, grade=grade, **_where(index, reading, name)
    )
    out.alerts += alerts


def forecast_rule(index: CityIndex, rules: Rules, reading: FacilityReading, out: RuleOutput) -> None:
    """Time-to-full from the fill trend."""
    name = fill_forecast.RULE
    rules[name], alerts = fill_forecast.step(
        state_of(rules, name), reading, index.params.fill_forecast, **_where(index, reading, name)
    )
    out.alerts += alerts


def known_facility(index: CityIndex, reading: Any) -> bool:
    """Only facilities of the inventory are judged."""
    return reading.device_id in index.facilities


RULES: list[tuple[Applies, Rule]] = [
    (known_facility, seen_rule),
    (known_facility, overflow_rule),
    (known_facility, odour_rule),
    (known_facility, forecast_rule),
]
