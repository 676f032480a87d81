"""A suspended company's truck driving (停运企业车辆违规运营): golden timelines and a property."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules import suspended_operation as rule
from rules.alerts import Alert, Phase
from rules.suspended_operation import SuspendedOperationParams
from tests.rules.timelines import position, seconds

PARAMS = SuspendedOperationParams(min_speed_kmh=5, min_duration_s=60, stop_clear_s=600)


def run(steps: list[tuple[float, float, bool]]) -> list[tuple[str, float]]:
    """Feed (t_s, speed_kmh, suspended) positions; return (phase, t_s) of each alert."""
    state, out = rule.SuspendedOperationState(), []
    for t, speed, suspended in steps:
        state, alerts = rule.step(
            state,
            position(t, speed_kmh=speed),
            suspended,
            PARAMS,
            subject="gps-m01",
            matter_code="08108",
            company="江城顺达渣土运输有限公司",
        )
        out += alerts
    return [(a.phase.value, seconds(a.ts_ms)) for a in out]


def test_driving_a_minute_while_suspended_opens_and_lifting_clears() -> None:
    steps = [(t, 30.0, True) for t in range(0, 100, 10)] + [(100, 30.0, False)]
    assert run(steps) == [("open", 60), ("clear", 100)]


def test_a_company_not_suspended_raises_nothing() -> None:
    assert run([(t, 40.0, False) for t in range(0, 600, 10)]) == []


def test_standing_stops_the_clock_and_a_long_stand_ends_the_trip() -> None:
    drive = [(t, 30.0, True) for t in range(0, 40, 10)]  # 30 s of driving
    stand = [(t, 0.0, True) for t in range(40, 200, 10)]  # standing does not count
    more = [(t, 30.0, True) for t in range(200, 250, 10)]  # 40 s more: 70 s in all, open at 230
    parked = [(t, 0.0, True) for t in range(250, 900, 10)]  # 600 s still: the trip ended
    assert run(drive + stand + more + parked) == [("open", 230), ("clear", 850)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 3.0, 30.0]), st.booleans()), max_size=60))
def test_episodes_alternate_open_and_clear(moves: list[tuple[float, bool]]) -> None:
    phases = [p for p, _ in run([(i * 10.0, speed, suspended) for i, (speed, suspended) in enumerate(moves)])]
    assert phases == ["open", "clear"] * (len(phases) // 2) + ["open"] * (len(phases) % 2)


def test_the_alert_names_the_company() -> None:
    state, alerts = rule.SuspendedOperationState(), []
    for t in range(0, 70, 10):
        state, out = rule.step(
            state, position(t), True, PARAMS, subject="gps-m01", matter_code="08108", company="江城顺达渣土运输有限公司"
        )
        alerts += out
    (opened,) = alerts
    assert isinstance(opened, Alert) and opened.phase is Phase.OPEN and opened.matter_code == "08108"
    assert opened.evidence["company"] == "江城顺达渣土运输有限公司" and opened.severity.value == "critical"
