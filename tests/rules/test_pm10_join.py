"""Site minus background PM10: golden timelines of closed windows on a site key, in every arrival order.

Timeline time 0 is 2026-01-01T00:00Z = 08:00 in Asia/Shanghai; windows are hourly (Wuhan ladder) and a
window's facts arrive when the next hour's first reading closes it (60 s after its end here).
"""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from rules import pm10_join
from rules.alerts import Alert
from rules.facts import Fact
from rules.params import RuleParams
from rules.pm10 import Emitter
from rules.pm10_join import Join, JoinState
from rules.windows import WindowMean
from tests.rules.timelines import check_grammar, json_round_trip, ms, summary

SITE, STATION = "env-c02", "env-bg01"
WUHAN = RuleParams.model_validate({"pm10_preset": "wuhan", "pm10": {"use_background": True}}).pm10
JOIN = Join(Emitter(SITE, "08004", 114.3, 30.6, WUHAN, "Asia/Shanghai"), STATION, 600_000)
H = 3600


def window(hour: int, mean: float) -> WindowMean:
    """Return the closed hourly window starting ``hour`` hours after time 0, with that mean."""
    return WindowMean(ms(hour * H), ms((hour + 1) * H)).add(mean)


def fact(role: pm10_join.Role, hour: int, mean: float, late_s: float = 60) -> Fact:
    """Return a monitor's closed-window fact, closed ``late_s`` after the window's end."""
    device = SITE if role == "site" else STATION
    return pm10_join.window_fact("C02", role, device, window(hour, mean), ms((hour + 1) * H + late_s))


Step = Fact | int  # a fact, or a watermark (timeline seconds)


def feed(steps: list[Step], state: JoinState | None = None) -> tuple[JoinState, list[Alert]]:
    """Run facts and watermarks through the join, reloading its state from JSON before each."""
    state, alerts = state or JoinState(), []
    for s in steps:
        state = json_round_trip(state)
        state, out = pm10_join.check(state, ms(s), JOIN) if isinstance(s, int) else pm10_join.on_fact(state, s, JOIN)
        alerts += out
    return state, alerts


def graded(alerts: list[Alert]) -> list[tuple[str, float, float, str, float]]:
    return [(*s, a.severity.value, a.evidence["judged_ugm3"]) for s, a in zip(summary(alerts), alerts, strict=True)]


def test_a_hazy_site_is_judged_on_its_excess_over_the_background() -> None:
    _, alerts = feed(
        [
            fact("site", 0, 240),
            fact("background", 0, 180),  # 60 over: fine
            fact("site", 1, 400),
            fact("background", 1, 180),  # 220 over: stop work
            fact("background", 2, 100),
            fact("site", 2, 240),
        ]
    )  # 140: under resume, cleared
    assert graded(alerts) == [("open", 2 * H + 60, H, "critical", 220.0), ("clear", 3 * H + 60, H, "critical", 140.0)]
    opened = alerts[0].evidence
    assert (opened["mean_ugm3"], opened["background_ugm3"], opened["background"]) == (400.0, 180.0, "present")
    assert opened["background_device_id"] == STATION and opened["background_readings"] == 1
    assert alerts[0].alert_id == alerts[1].alert_id and alerts[0].subject == SITE


def test_both_arrival_orders_give_the_same_alerts() -> None:
    site = [fact("site", h, m) for h, m in enumerate([300, 420, 200, 120])]
    background = [fact("background", h, 100, late_s=30 + 20 * h) for h in range(4)]
    _, site_first = feed([*site, *background])
    _, background_first = feed([*background, *site])
    _, zipped = feed([f for pair in zip(site, background, strict=True) for f in pair])
    assert site_first == background_first == zipped
    assert graded(site_first) == [
        ("open", H + 60, 0, "warning", 200.0),
        ("update", 2 * H + 60, 0, "critical", 320.0),
        ("clear", 3 * H + 70, 0, "critical", 100.0),
    ]  # the station's fact closed later


def test_a_missing_background_is_judged_alone_after_the_grace() -> None:
    state, alerts = feed([fact("site", 0, 260), (H + 599)])
    assert alerts == [] and len(state.sites) == 1  # still waiting for the station
    _, alerts = feed([H + 600], state)
    assert graded(alerts) == [("open", H + 600, 0, "critical", 260.0)]
    assert alerts[0].evidence["background"] == "missing" and alerts[0].evidence["background_ugm3"] is None


def test_a_background_arriving_after_the_grace_is_late() -> None:
    _, alerts = feed([fact("site", 0, 260), H + 600, fact("background", 0, 200, late_s=900)])
    assert [a.evidence["background"] for a in alerts] == ["missing"]
    state, alerts = feed([H + 700, fact("background", 0, 200), fact("site", 0, 260)])  # both after the grace
    assert [a.evidence["background"] for a in alerts] == ["missing"] and state.backgrounds == ()


def test_a_later_complete_window_waits_for_an_older_incomplete_one() -> None:
    state, alerts = feed([fact("site", 0, 400), fact("site", 1, 100), fact("background", 1, 50)])
    assert alerts == [] and [c.window.start_ms for c in state.sites] == [ms(0), ms(H)]
    _, alerts = feed([H + 600], state)  # hour 0 alone (400), then hour 1 against its station (50)
    assert graded(alerts) == [("open", H + 600, 0, "critical", 400.0), ("clear", 2 * H + 60, 0, "critical", 50.0)]


def test_station_windows_without_a_site_window_are_dropped() -> None:
    state, _ = feed([fact("background", 0, 80), fact("background", 1, 80), 2 * H + 599])
    assert [c.window.start_ms for c in state.backgrounds] == [ms(H)]  # hour 0 expired
    state, alerts = feed([fact("site", 1, 300)], state)
    assert graded(alerts) == [("open", 2 * H + 60, H, "critical", 220.0)]
    assert state.backgrounds == () and state.sites == ()


def test_redelivered_and_stale_facts_change_nothing() -> None:
    steps: list[Step] = [fact("site", 0, 300), fact("background", 0, 100)]
    state, alerts = feed(steps)
    again, more = feed([*steps, fact("site", 0, 999)], state)
    assert more == [] and again == state and len(alerts) == 1


def test_watermarks_that_do_not_advance_are_ignored() -> None:
    state, _ = feed([fact("site", 0, 300), H + 100])
    assert feed([H + 50], state) == (state, [])


hours = st.lists(
    st.tuples(st.floats(0, 400), st.one_of(st.none(), st.floats(0, 300)), st.integers(0, 500)), min_size=1, max_size=8
)


@given(hours, st.randoms(use_true_random=False))
def test_any_interleaving_of_the_two_monitors_gives_the_same_alerts(rows: list, rnd: random.Random) -> None:
    """Each monitor's facts keep their order (one Kafka partition each); how they interleave must not matter."""
    site = [fact("site", h, m) for h, (m, _, _) in enumerate(rows)]
    background = [fact("background", h, b, late_s=late) for h, (_, b, late) in enumerate(rows) if b is not None]
    merged: list[Step] = []
    a, b = list(site), list(background)
    while a or b:
        source = a if not b or (a and rnd.random() < 0.5) else b
        merged.append(source.pop(0))
    end = (len(rows) + 2) * H
    _, expected = feed([*site, *background, end])
    _, got = feed([*merged, end])
    assert got == expected
    check_grammar(got)
    for e in (a.evidence for a in got if a.evidence["background"] == "present"):
        assert abs(e["judged_ugm3"] - (e["mean_ugm3"] - e["background_ugm3"])) <= 0.11  # each rounded to 0.1
