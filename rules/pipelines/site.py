"""Construction-site rules: PM10 windows, noise day / night, night work without a permit."""

from __future__ import annotations

from typing import Any

from devices.contracts import SiteReading
from rules import pm10, pm10_join
from rules.city_index import CityIndex
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, run_catalog, state_of
from rules.pipelines.dust import background_rule, differential, known_background
from rules.pipelines.fixed import seen_rule


def _where(index: CityIndex, reading: SiteReading, rule: str) -> dict[str, Any]:
    site = index.sites[reading.device_id]
    return {
        "subject": reading.device_id,
        "matter_code": index.matter_code(rule),
        "lon": site.lon,
        "lat": site.lat,
        "tz": index.tz,
    }


def pm10_rule(index: CityIndex, rules: Rules, reading: SiteReading, out: RuleOutput) -> None:
    """PM10 window means against the warn / stop ladder; a site judged against a background sends its windows on."""
    name, site = pm10.RULE, index.sites[reading.device_id]
    if differential(index, site):
        rules[name], closed = pm10.fold(state_of(rules, name), reading, index.params.pm10, index.tz)
        if closed is not None:
            out.facts.append(pm10_join.window_fact(site.site_id, "site", reading.device_id, closed, reading.ts_ms))
        return
    rules[name], alerts = pm10.step(state_of(rules, name), reading, index.params.pm10, **_where(index, reading, name))
    out.alerts += alerts


def site_rules(index: CityIndex, rules: Rules, reading: SiteReading, out: RuleOutput) -> None:
    """The catalog's rules on site readings (noise day / night, night work), in their order."""
    site = index.sites[reading.device_id]
    run_catalog(index, rules, reading, out, (site.lon, site.lat))


def known_site(index: CityIndex, reading: Any) -> bool:
    """Only monitors of the inventory's sites are judged."""
    return reading.device_id in index.sites


RULES: list[tuple[Applies, Rule]] = [
    (known_site, seen_rule),
    (known_site, pm10_rule),
    (known_site, site_rules),
    (known_background, seen_rule),
    (known_background, background_rule),
]
