"""Site minus background PM10: the background stations' windows (stage 1) and the join per site key (stage 2).

A site is judged against a background station when the city says so (``pm10.use_background``)
and the site names one (``Site.background_device_id``); every other site keeps the absolute rule
in stage 1 (``site.pm10_rule``).
"""

from __future__ import annotations

from typing import Any

from devices.contracts import SiteReading
from devices.inventory import Site
from rules import pm10, pm10_join
from rules.city_index import CityIndex
from rules.facts import Fact
from rules.pipelines.common import RuleOutput, Rules, state_of

BACKGROUND_RULE = "pm10_background"  # a station's open window (the state of its monitor)
STATE_SLOTS = {BACKGROUND_RULE: pm10.Pm10State}


def differential(index: CityIndex, site: Site) -> bool:
    """Tell whether a site's PM10 is judged as site minus its background station."""
    return index.params.pm10.use_background and site.background_device_id is not None


def known_background(index: CityIndex, reading: Any) -> bool:
    """Only monitors of the inventory's background stations feed the join."""
    return reading.device_id in index.city.background_by_device


def background_rule(index: CityIndex, rules: Rules, reading: SiteReading, out: RuleOutput) -> None:
    """Fold a background station's reading; a window it closes goes to every site judged against it."""
    sites = [s for s in index.city.sites_by_background.get(reading.device_id, []) if differential(index, s)]
    if not sites:
        return
    rules[BACKGROUND_RULE], closed = pm10.fold(state_of(rules, BACKGROUND_RULE), reading, index.params.pm10, index.tz)
    if closed is not None:
        out.facts += [
            pm10_join.window_fact(s.site_id, "background", reading.device_id, closed, reading.ts_ms) for s in sites
        ]


def fact_keys(index: CityIndex) -> list[str]:
    """Return the keys of the sites judged against a background station."""
    return sorted(pm10_join.fact_key(s.site_id) for s in index.city.sites if differential(index, s))


def _join_of(index: CityIndex, key: str) -> pm10_join.Join | None:
    """Return what judging a site key needs, None if the key is not a differential site's."""
    site = index.sites_by_id.get(key.removeprefix(pm10_join.KEY_PREFIX)) if is_key(key) else None
    if site is None or site.background_device_id is None or not differential(index, site):
        return None
    p = index.params.pm10
    emit = pm10.Emitter(site.device_id, index.matter_code(pm10.RULE), site.lon, site.lat, p, index.tz)
    return pm10_join.Join(emit, site.background_device_id, round(p.background_grace_s * 1000))


def run_fact(index: CityIndex, rules: Rules, fact: Fact) -> RuleOutput:
    """A site's or its station's window closed."""
    out = RuleOutput()
    join = _join_of(index, fact.key)
    if fact.kind == pm10_join.FACT_KIND and join is not None:
        rules[pm10_join.RULE], out.alerts = pm10_join.on_fact(state_of(rules, pm10_join.RULE), fact, join)
    return out


def run_key_tick(index: CityIndex, rules: Rules, key: str, watermark_ms: int) -> RuleOutput:
    """Judge, at the watermark, the site windows whose station's window never came."""
    out = RuleOutput()
    join = _join_of(index, key)
    if join is not None:
        rules[pm10_join.RULE], out.alerts = pm10_join.check(state_of(rules, pm10_join.RULE), watermark_ms, join)
    return out


def is_key(key: str) -> bool:
    """Tell whether a fact key is a PM10 site key."""
    return key.startswith(pm10_join.KEY_PREFIX)
