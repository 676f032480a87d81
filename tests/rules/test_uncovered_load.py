"""Uncovered load (未密闭): golden timelines of (t_s, cover_closed, load, speed_kmh) rows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import uncovered_load
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.uncovered_load import Condition, UncoveredLoadParams, UncoveredLoadState, classify
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

PARAMS = UncoveredLoadParams(min_speed_kmh=5, min_duration_s=20)
OPEN, SHUT, NO_SENSOR = False, True, None

Row = tuple[float, bool | None, str, float]  # (t_s, cover_closed, load, speed_kmh)


def uncovered(
    rows: list[Row],
    params: UncoveredLoadParams = PARAMS,
    *,
    state: UncoveredLoadState | None = None,
    restart: bool = False,
) -> tuple[UncoveredLoadState, list[Alert]]:
    """Run the rule over a timeline of (t_s, cover_closed, load, speed_kmh)."""

    def step(s: UncoveredLoadState, pos: VehiclePosition) -> tuple[UncoveredLoadState, list[Alert]]:
        return uncovered_load.step(s, pos, params, subject=DEVICE, matter_code="08011")

    events = [position(t, cover=cover, load=load, speed_kmh=v) for t, cover, load, v in rows]
    return run(step, state or UncoveredLoadState(), events, restart=restart)


def test_uncovered_while_moving_opens_and_closing_the_cover_clears() -> None:
    rows: list[Row] = [
        # t_s  cover  load    speed
        (0,    SHUT,  "full", 30),
        (10,   OPEN,  "full", 30),  # episode starts
        (20,   OPEN,  "full", 30),
        (30,   OPEN,  "full", 30),  # 20 s violating -> OPEN
        (40,   OPEN,  "full", 0),   # stopped at a light: stays open
        (50,   OPEN,  "full", 25),
        (60,   SHUT,  "full", 25),  # cover closed -> CLEAR
    ]  # fmt: skip
    _, alerts = uncovered(rows)
    assert summary(alerts) == [("open", 30, 10), ("clear", 60, 10)]
    assert alerts[0].alert_id == alerts[1].alert_id == alert_id("uncovered_load", DEVICE, ms(10))
    assert {a.severity for a in alerts} == {Severity.MAJOR}
    assert alerts[0].evidence == {
        "load_state": "full",
        "cover_closed": False,
        "speed_kmh": 30.0,
        "violating_s": 20.0,
        "duration_s": 20.0,
    }
    assert alerts[1].evidence["cover_closed"] is True


def test_unloading_clears_and_stopping_does_not() -> None:
    rows: list[Row] = [
        (0,    OPEN,  "half", 20),
        (20,   OPEN,  "half", 20),  # OPEN
        (30,   OPEN,  "half", 0),
        (900,  OPEN,  "half", 0),   # a quarter of an hour parked: still open
        (960,  OPEN,  "empty", 0),  # dumped at the disposal site -> CLEAR
    ]  # fmt: skip
    _, alerts = uncovered(rows)
    assert summary(alerts) == [("open", 20, 0), ("clear", 960, 0)]
    assert alerts[1].evidence["load_state"] == "empty"


def test_a_stop_pauses_the_clock_of_a_pending_episode() -> None:
    rows: list[Row] = [
        (0,    OPEN,  "full", 30),  # episode starts
        (10,   OPEN,  "full", 30),  # 10 s violating
        (20,   OPEN,  "full", 2),   # below min speed: clock stops
        (320,  OPEN,  "full", 30),  # moving again: clock restarts from here
        (329,  OPEN,  "full", 30),  # 19 s
        (330,  OPEN,  "full", 30),  # 20 s -> OPEN, episode still started at 0
    ]  # fmt: skip
    _, alerts = uncovered(rows)
    assert summary(alerts) == [("open", 330, 0)]
    assert alerts[0].evidence["violating_s"] == 20.0 and alerts[0].evidence["duration_s"] == 330.0


def test_short_uncovered_stretch_raises_nothing() -> None:
    _, alerts = uncovered([(0, OPEN, "full", 30), (19, OPEN, "full", 30), (25, SHUT, "full", 30)])
    assert alerts == []


def test_positions_without_a_cover_sensor_are_not_evidence() -> None:
    rows: list[Row] = [
        (0,    NO_SENSOR, "full", 30),
        (100,  NO_SENSOR, "full", 30),  # no sensor: never opens
        (110,  OPEN,      "full", 30),
        (130,  OPEN,      "full", 30),  # OPEN
        (140,  NO_SENSOR, "empty", 30), # not evidence: does not clear either
        (150,  NO_SENSOR, "full", 30),
        (160,  SHUT,      "full", 30),  # CLEAR
    ]  # fmt: skip
    _, alerts = uncovered(rows)
    assert summary(alerts) == [("open", 130, 110), ("clear", 160, 110)]


def test_missing_sensor_stops_the_clock_without_resetting_it() -> None:
    rows: list[Row] = [(0, OPEN, "full", 30), (10, OPEN, "full", 30), (15, NO_SENSOR, "full", 30)]
    rows += [(100, OPEN, "full", 30), (109, OPEN, "full", 30), (110, OPEN, "full", 30)]
    _, alerts = uncovered(rows)
    assert summary(alerts) == [("open", 110, 0)]


def test_exact_min_speed_counts_as_moving() -> None:
    assert classify(position(0, cover=OPEN, speed_kmh=5.0), 5.0) is Condition.VIOLATING
    assert classify(position(0, cover=OPEN, speed_kmh=4.99), 5.0) is Condition.PAUSED
    assert classify(position(0, cover=OPEN, load="empty"), 5.0) is Condition.SECURED
    assert classify(position(0, cover=SHUT), 5.0) is Condition.SECURED
    assert classify(position(0, cover=NO_SENSOR), 5.0) is Condition.UNKNOWN


def test_empty_truck_with_open_cover_is_fine() -> None:
    _, alerts = uncovered([(t, OPEN, "empty", 40) for t in range(0, 300, 10)])
    assert alerts == []


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [
        (0,   OPEN, "full", 30),
        (20,  OPEN, "full", 30),  # OPEN
        (10,  SHUT, "full", 30),  # older: ignored
        (20,  SHUT, "full", 30),  # same time: ignored
        (30,  SHUT, "full", 30),  # CLEAR
    ]  # fmt: skip
    state, alerts = uncovered(rows)
    assert summary(alerts) == [("open", 20, 0), ("clear", 30, 0)]
    assert state == UncoveredLoadState(last_ts_ms=ms(30))


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [(0, OPEN, "full", 30), (10, OPEN, "full", 30), (15, OPEN, "full", 0)]
    rest: list[Row] = [(40, OPEN, "full", 30), (60, OPEN, "full", 30), (70, SHUT, "full", 30)]
    paused, _ = uncovered(rows)
    assert paused.violating_ms == 10_000 and paused.last_violating_ts_ms is None
    assert json_round_trip(paused) == paused
    _, straight = uncovered(rows + rest)
    _, resumed = uncovered(rest, state=json_round_trip(paused))
    assert resumed == straight
    assert summary(resumed) == [("open", 60, 0), ("clear", 70, 0)]


covers = st.sampled_from([OPEN, SHUT, NO_SENSOR])
loads = st.sampled_from(["empty", "half", "full"])
speeds = st.sampled_from([0.0, 4.9, 5.0, 30.0])
rows_of = st.tuples(st.integers(1, 30), covers, loads, speeds)
timelines = st.lists(rows_of, min_size=1, max_size=60).map(from_gaps)


@given(timelines)
def test_alerts_form_episodes_with_enough_violating_time(rows: list[Row]) -> None:
    _, alerts = uncovered(rows)
    check_grammar(alerts)
    assert {a.phase for a in alerts} <= {Phase.OPEN, Phase.CLEAR}
    for a in alerts:
        assert a.evidence["violating_s"] >= PARAMS.min_duration_s
        secured = a.evidence["cover_closed"] or a.evidence["load_state"] == "empty"
        assert secured == (a.phase is Phase.CLEAR)


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert uncovered(rows, restart=True) == uncovered(rows)
