"""Facility rules (stations and bins): the silence of the sensor, then the catalog's rules on its readings."""

from __future__ import annotations

from typing import Any

from devices.contracts import FacilityReading
from rules.city_index import CityIndex
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, run_catalog
from rules.pipelines.fixed import seen_rule


def facility_rules(index: CityIndex, rules: Rules, reading: FacilityReading, out: RuleOutput) -> None:
    """The catalog's rules on fill and odour readings (overflow bands, odour, fill forecast), in their order."""
    facility = index.facilities[reading.device_id]
    run_catalog(index, rules, reading, out, (facility.lon, facility.lat))


def known_facility(index: CityIndex, reading: Any) -> bool:
    """Only facilities of the inventory are judged."""
    return reading.device_id in index.facilities


RULES: list[tuple[Applies, Rule]] = [
    (known_facility, seen_rule),
    (known_facility, facility_rules),
]
