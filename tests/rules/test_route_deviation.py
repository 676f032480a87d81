"""Route deviation (线路偏移): golden timelines of (t_s, distance_m) rows, edges and properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import route_deviation
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.route_deviation import RouteDeviationParams, RouteDeviationState
from tests.rules.timelines import (
    DEVICE,
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    position,
    run,
    summary,
)

CORRIDOR_M = 50.0
PARAMS = RouteDeviationParams(min_duration_s=30, hysteresis_m=10)  # back inside at <= 40 m

Row = tuple[float, float]  # (t_s, distance_m)
Stepped = tuple[RouteDeviationState, list[Alert]]


def deviation(
    rows: list[Row],
    params: RouteDeviationParams = PARAMS,
    *,
    state: RouteDeviationState | None = None,
    restart: bool = False,
) -> tuple[RouteDeviationState, list[Alert]]:
    """Run the rule over a timeline of (t_s, distance to the corridor in metres)."""

    def step(s: RouteDeviationState, row: tuple[VehiclePosition, float]) -> Stepped:
        pos, distance_m = row
        return route_deviation.step(
            s, pos, distance_m, CORRIDOR_M, params,
            subject=DEVICE, matter_code="08011", permit_id="P-1",
        )  # fmt: skip

    events = [(position(t), d) for t, d in rows]
    return run(step, state or RouteDeviationState(), events, restart=restart)


def test_episode_opens_after_min_duration_and_clears_back_inside() -> None:
    rows = [
        (0, 10),
        (10, 60),  # first outside point: episode starts
        (20, 80),
        (30, 120),
        (40, 90),  # 30 s outside -> OPEN
        (50, 45),  # in the hysteresis band: still outside, nothing
        (60, 30),  # back inside -> CLEAR
        (70, 20),
    ]
    _, alerts = deviation(rows)
    assert summary(alerts) == [("open", 40, 10), ("clear", 60, 10)]
    opened, cleared = alerts
    assert opened.alert_id == cleared.alert_id == alert_id("route_deviation", DEVICE, ms(10))
    assert {a.severity for a in alerts} == {Severity.MAJOR}
    assert {a.matter_code for a in alerts} == {"08011"}
    assert cleared.evidence == {
        "permit_id": "P-1",
        "corridor_m": 50.0,
        "distance_m": 30.0,
        "max_distance_m": 120.0,
        "duration_s": 50.0,
    }


def test_short_excursion_raises_nothing() -> None:
    _, alerts = deviation([(0, 10), (10, 70), (30, 300), (39, 20), (100, 10)])
    assert alerts == []


def test_on_the_corridor_edge_is_inside() -> None:
    _, alerts = deviation([(0, 50), (100, 50), (200, 50)])
    assert alerts == []


def test_exactly_min_duration_opens() -> None:
    _, alerts = deviation([(0, 50.1), (29.999, 51), (30, 51)])
    assert summary(alerts) == [("open", 30, 0)]


def test_exactly_corridor_minus_hysteresis_is_back_inside() -> None:
    _, alerts = deviation([(0, 60), (30, 60), (40, 40.001), (50, 40)])
    assert summary(alerts) == [("open", 30, 0), ("clear", 50, 0)]


def test_band_point_while_idle_does_not_start_an_episode() -> None:
    _, alerts = deviation([(0, 45), (20, 49), (40, 45), (60, 10)])
    assert alerts == []


def test_flapping_on_the_edge_is_one_episode_not_a_storm() -> None:
    edge = [55, 45, 52, 41, 60, 48, 51, 44] * 4  # GPS noise straddling 50 m, never <= 40 m
    rows = [(10.0 * i, d) for i, d in enumerate(edge)] + [(320, 35)]
    _, alerts = deviation(rows)
    assert summary(alerts) == [("open", 30, 0), ("clear", 320, 0)]
    _, stormy = deviation(rows, RouteDeviationParams(min_duration_s=0, hysteresis_m=0))
    assert len(stormy) > 10  # what hysteresis saves the command centre from


def test_zero_min_duration_opens_on_the_first_outside_point() -> None:
    eager = RouteDeviationParams(min_duration_s=0, hysteresis_m=10)
    _, alerts = deviation([(0, 10), (5, 51)], eager)
    assert summary(alerts) == [("open", 5, 5)]


def test_gap_in_reports_counts_as_outside_time() -> None:
    _, alerts = deviation([(0, 80), (600, 80)])  # terminal silent in between: still outside
    assert summary(alerts) == [("open", 600, 0)]


def test_late_and_duplicate_events_are_ignored() -> None:
    rows = [
        (0, 60),
        (30, 70),  # OPEN
        (20, 10),  # older: ignored, does not clear
        (30, 10),  # same time: ignored
        (40, 80),
        (50, 10),  # CLEAR
    ]
    state, alerts = deviation(rows)
    assert summary(alerts) == [("open", 30, 0), ("clear", 50, 0)]
    assert state == RouteDeviationState(last_ts_ms=ms(50))


def test_late_event_returns_the_state_unchanged() -> None:
    state, _ = deviation([(0, 60), (10, 70)])
    again, alerts = deviation([(5, 500)], state=state)
    assert again is state and alerts == []


def test_two_episodes_have_distinct_ids() -> None:
    _, alerts = deviation([(0, 60), (30, 60), (40, 10), (100, 60), (130, 60), (140, 10)])
    assert summary(alerts) == [
        ("open", 30, 0),
        ("clear", 40, 0),
        ("open", 130, 100),
        ("clear", 140, 100),
    ]
    assert alerts[0].alert_id != alerts[2].alert_id


def test_state_round_trips_mid_episode() -> None:
    rows = [(0, 10), (10, 60), (20, 80), (40, 90), (50, 45), (60, 30)]
    pending, _ = deviation(rows[:3])
    assert pending.episode_start_ms == ms(10) and not pending.is_open
    assert json_round_trip(pending) == pending
    _, straight = deviation(rows)
    _, resumed = deviation(rows[3:], state=json_round_trip(pending))
    assert resumed == straight


gaps = st.integers(1, 60)
distances = st.floats(0, 150, allow_nan=False)
timelines = st.lists(st.tuples(gaps, distances), min_size=1, max_size=60).map(from_gaps)


@given(timelines)
def test_alerts_form_episodes_that_lasted_long_enough(rows: list[Row]) -> None:
    _, alerts = deviation(rows)
    check_grammar(alerts)
    assert {a.phase for a in alerts} <= {Phase.OPEN, Phase.CLEAR}
    for a in alerts:
        assert a.ts_ms - a.episode_start_ms >= PARAMS.min_duration_s * 1000
        assert a.alert_id == alert_id("route_deviation", DEVICE, a.episode_start_ms)


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert deviation(rows, restart=True) == deviation(rows)


@given(timelines, st.integers(0, 59))
def test_replaying_a_prefix_changes_nothing(rows: list[Row], cut: int) -> None:
    state, _ = deviation(rows)
    replayed, more = deviation(rows[: cut + 1], state=state)  # redelivered late
    assert replayed == state and more == []
