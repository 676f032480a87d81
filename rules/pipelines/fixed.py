"""Silences of fixed devices (facility sensors, site monitors, background stations), located where they stand."""

from __future__ import annotations

from typing import Any

from rules import silence
from rules.city_index import CityIndex
from rules.pipelines.common import RuleOutput, Rules, state_of


def _place(index: CityIndex, device_id: str) -> tuple[float, float, float] | None:
    """Return (lon, lat, allowed silence in s) of a fixed device, None if it is not one."""
    if device_id in index.facilities:
        f = index.facilities[device_id]
        return f.lon, f.lat, index.params.silence.facility_s
    if device_id in index.sites:
        s = index.sites[device_id]
        return s.lon, s.lat, index.params.silence.site_s
    if device_id in index.city.background_by_device:  # its silence leaves sites judged on their own mean
        b = index.city.background_by_device[device_id]
        return b.lon, b.lat, index.params.silence.site_s
    return None


def seen_rule(index: CityIndex, rules: Rules, reading: Any, out: RuleOutput) -> None:
    """A reading arrived: it ends a silence."""
    place = _place(index, reading.device_id)
    if place is None:
        return
    rules[silence.RULE], alerts = silence.seen(
        state_of(rules, silence.RULE),
        reading.ts_ms,
        lon=place[0],
        lat=place[1],
        subject=reading.device_id,
        matter_code=index.matter_code(silence.RULE),
    )
    out.alerts += alerts


def fixed_tick(index: CityIndex, rules: Rules, device_id: str, watermark_ms: int, out: RuleOutput) -> None:
    """A fixed device silent for longer than allowed."""
    place = _place(index, device_id)
    if place is None or silence.RULE not in rules:
        return
    rules[silence.RULE], alerts = silence.check(
        rules[silence.RULE],
        watermark_ms,
        place[2],
        lon=place[0],
        lat=place[1],
        subject=device_id,
        matter_code=index.matter_code(silence.RULE),
    )
    out.alerts += alerts
