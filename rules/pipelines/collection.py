"""Stage 2 for 日产日清: the state of each collection point, fed by ``served`` facts and the watermark."""

from __future__ import annotations

from rules import collection_dwell, collection_point
from rules.city_index import CityIndex
from rules.facts import Fact
from rules.pipelines.common import RuleOutput, Rules, state_of


def run_fact(index: CityIndex, rules: Rules, fact: Fact) -> RuleOutput:
    """A truck served a point."""
    out = RuleOutput()
    point = index.points.get(fact.key)
    if fact.kind != collection_dwell.FACT_KIND or point is None:
        return out
    name = collection_point.RULE
    rules[name], out.alerts = collection_point.served(
        state_of(rules, name),
        collection_dwell.Served.from_dict(fact.data),
        point,
        tz=index.tz,
        matter_code=index.matter_code(name),
    )
    return out


def run_key_tick(index: CityIndex, rules: Rules, key: str, watermark_ms: int) -> RuleOutput:
    """Judge a point's deadline at the watermark."""
    out = RuleOutput()
    point = index.points.get(key)
    if point is None:
        return out
    name = collection_point.RULE
    rules[name], out.alerts = collection_point.check(
        state_of(rules, name), watermark_ms, point, index.tz, matter_code=index.matter_code(name)
    )
    return out
