"""Illegal dumping (偷倒 / 乱倒): golden timelines of (t_s, speed, load, lifted, site zone) rows."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import illegal_dumping
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.illegal_dumping import IllegalDumpingParams, IllegalDumpingState
from rules.trip_delivery import SiteZone
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

PARAMS = IllegalDumpingParams(lifted_min_s=20, dwell_min_s=600, stop_speed_kmh=3, move_on_s=30)
UP, DOWN, NO_SENSOR = True, False, None

Row = tuple[float, float, str, bool | None, SiteZone]  # (t_s, speed_kmh, load, body_lifted, site zone)


def truck(t: float, speed: float, load: str, lifted: bool | None) -> VehiclePosition:
    """Build a muck-truck position with a body-lift signal."""
    return position(t, speed_kmh=speed, load=load, cover=None, lifted=lifted, heading_deg=0.0)


def dumping(
    rows: list[Row],
    params: IllegalDumpingParams = PARAMS,
    *,
    state: IllegalDumpingState | None = None,
    restart: bool = False,
) -> tuple[IllegalDumpingState, list[Alert]]:
    """Run the rule over a timeline of (t_s, speed, load, lifted, site zone)."""

    def step(s: IllegalDumpingState, row: tuple[VehiclePosition, SiteZone]) -> tuple[IllegalDumpingState, list[Alert]]:
        pos, zone = row
        return illegal_dumping.step(s, pos, zone, params, subject=DEVICE, matter_code="08005")

    events = [(truck(t, v, load, lifted), zone) for t, v, load, lifted, zone in rows]
    return run(step, state or IllegalDumpingState(), events, restart=restart)


def graded(alerts: list[Alert]) -> list[tuple[str, float, float, str]]:
    """Return the summary with each alert's severity."""
    return [(*s, a.severity.value) for s, a in zip(summary(alerts), alerts, strict=True)]


def test_lifting_the_body_by_the_roadside_is_critical() -> None:
    rows: list[Row] = [
        # t_s  speed load    lifted  zone
        (0,    30,   "full", DOWN,   "none"),
        (10,   0,    "full", DOWN,   "none"),  # stop starts
        (20,   0,    "full", UP,     "none"),  # body up: lifted clock starts
        (40,   0,    "half", UP,     "none"),  # 20 s lifted -> OPEN CRITICAL
        (60,   0,    "empty", DOWN,  "none"),
        (70,   20,   "empty", DOWN,  "none"),  # drives off ...
        (100,  30,   "empty", DOWN,  "none"),  # ... for 30 s -> CLEAR
    ]  # fmt: skip
    _, alerts = dumping(rows)
    assert graded(alerts) == [("open", 40, 10, "critical"), ("clear", 100, 10, "critical")]
    assert alerts[0].alert_id == alerts[1].alert_id == alert_id("illegal_dumping", DEVICE, ms(10))
    assert alerts[0].evidence == {
        "load_state": "half",
        "body_lifted": True,
        "speed_kmh": 0.0,
        "stopped_s": 30.0,
        "loaded_since_ms": ms(10),
        "max_lifted_s": 20.0,
        "trigger": "body_lifted",
    }
    assert alerts[1].evidence["ended_by"] == "moved_on" and alerts[1].evidence["max_lifted_s"] == 20.0


def test_loaded_dwell_opens_major_and_a_lift_escalates_once() -> None:
    rows: list[Row] = [
        (0,    2,  "full", DOWN, "none"),  # stop starts, loaded
        (599,  0,  "full", DOWN, "none"),
        (600,  0,  "full", DOWN, "none"),  # 600 s loaded -> OPEN MAJOR
        (700,  0,  "full", UP,   "none"),
        (720,  0,  "full", UP,   "none"),  # 20 s lifted -> UPDATE CRITICAL
        (800,  0,  "full", UP,   "none"),
        (900,  0,  "full", DOWN, "none"),
        (910,  0,  "full", UP,   "none"),
        (930,  0,  "full", UP,   "none"),  # lifted again: already critical, nothing
        (950,  25, "empty", DOWN, "none"),
        (980,  25, "empty", DOWN, "none"),  # moved on -> CLEAR
    ]  # fmt: skip
    _, alerts = dumping(rows)
    assert graded(alerts) == [
        ("open", 600, 0, "major"),
        ("update", 720, 0, "critical"),
        ("clear", 980, 0, "critical"),
    ]
    assert [a.evidence.get("trigger") for a in alerts] == ["loaded_dwell", "body_lifted", None]


def test_approved_disposal_site_is_exempt_and_arriving_there_clears() -> None:
    at_disposal: list[Row] = [(t, 0, "full", UP, "disposal") for t in range(0, 1200, 10)]
    assert dumping(at_disposal)[1] == []
    rows: list[Row] = [
        (0, 0, "full", DOWN, "none"),
        (600, 0, "full", DOWN, "none"),
        (610, 0, "full", DOWN, "disposal"),
    ]
    _, alerts = dumping(rows)
    assert summary(alerts) == [("open", 600, 0), ("clear", 610, 0)]
    assert alerts[1].evidence["ended_by"] == "approved_site"


def test_waiting_loaded_at_the_origin_is_fine_but_lifting_there_is_not() -> None:
    waiting: list[Row] = [(t, 0, "full", DOWN, "origin") for t in range(0, 1800, 30)]
    assert dumping(waiting)[1] == []
    lifting: list[Row] = [(0, 0, "full", UP, "origin"), (20, 0, "full", UP, "origin")]
    assert graded(dumping(lifting)[1]) == [("open", 20, 0, "critical")]


def test_origin_resets_the_loaded_dwell() -> None:
    rows: list[Row] = [
        (0, 0, "full", DOWN, "none"),
        (500, 0, "full", DOWN, "origin"),
        (510, 0, "full", DOWN, "none"),
        (1109, 0, "full", DOWN, "none"),
    ]
    assert dumping(rows)[1] == []
    assert summary(dumping([*rows, (1110, 0, "full", DOWN, "none")])[1]) == [("open", 1110, 0)]


def test_an_empty_truck_may_park() -> None:
    assert dumping([(t, 0, "empty", DOWN, "none") for t in range(0, 3600, 60)])[1] == []


def test_creeping_forward_keeps_the_stop_and_its_clocks() -> None:
    rows: list[Row] = [
        (0,   0,  "full", UP,   "none"),
        (10,  8,  "full", UP,   "none"),  # creeps while tipping: moving, but not for 30 s
        (15,  0,  "full", UP,   "none"),
        (20,  0,  "full", UP,   "none"),  # 20 s lifted -> OPEN
    ]  # fmt: skip
    assert summary(dumping(rows)[1]) == [("open", 20, 0)]


def test_lowering_the_body_restarts_the_lift_clock_and_no_sensor_holds_it() -> None:
    lowered: list[Row] = [
        (0, 0, "empty", UP, "none"),
        (15, 0, "empty", DOWN, "none"),
        (16, 0, "empty", UP, "none"),
        (35, 0, "empty", UP, "none"),
    ]
    assert dumping(lowered)[1] == []
    unknown: list[Row] = [
        (0, 0, "empty", UP, "none"),
        (15, 0, "empty", NO_SENSOR, "none"),
        (20, 0, "empty", NO_SENSOR, "none"),
    ]
    assert summary(dumping(unknown)[1]) == [("open", 20, 0)]


def test_exact_thresholds() -> None:
    lift: list[Row] = [
        (0, 3, "empty", UP, "none"),
        (19.999, 3, "empty", UP, "none"),
        (20, 3, "empty", UP, "none"),
    ]
    assert summary(dumping(lift)[1]) == [("open", 20, 0)]  # 3 km/h is still stopped
    creeping: list[Row] = [(0, 3.1, "empty", UP, "none"), (30, 3.1, "empty", UP, "none")]
    assert dumping(creeping)[1] == []  # over stop_speed_kmh: never a stop
    move: list[Row] = [
        (0, 0, "empty", UP, "none"),
        (20, 0, "empty", UP, "none"),
        (21, 10, "empty", DOWN, "none"),
        (50.999, 10, "empty", DOWN, "none"),
    ]
    assert summary(dumping(move)[1]) == [("open", 20, 0)]
    assert summary(dumping([*move, (51, 10, "empty", DOWN, "none")])[1]) == [
        ("open", 20, 0),
        ("clear", 51, 0),
    ]


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [
        (0, 0, "full", UP, "none"),
        (20, 0, "full", UP, "none"),
        (10, 50, "empty", DOWN, "disposal"),
        (20, 50, "empty", DOWN, "disposal"),
        (30, 0, "full", UP, "disposal"),
    ]
    state, alerts = dumping(rows)
    assert summary(alerts) == [("open", 20, 0), ("clear", 30, 0)]
    assert state == IllegalDumpingState(last_ts_ms=ms(30))


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [
        (0, 0, "full", DOWN, "none"),
        (600, 0, "full", DOWN, "none"),
        (610, 9, "full", UP, "none"),
        (620, 0, "full", UP, "none"),
        (630, 0, "full", UP, "none"),
        (700, 30, "full", DOWN, "none"),
        (730, 30, "full", DOWN, "none"),
    ]
    mid, _ = dumping(rows[:3])
    assert mid.severity == "major" and mid.moving_since_ms == ms(610) and mid.lifted_since_ms == ms(610)
    assert json_round_trip(mid) == mid
    assert dumping(rows[3:], state=json_round_trip(mid))[1] == dumping(rows)[1][1:]


rows_st = st.lists(
    st.tuples(
        st.integers(1, 120),
        st.sampled_from([0.0, 2.0, 10.0, 40.0]),
        st.sampled_from(["empty", "full"]),
        st.sampled_from([UP, DOWN, NO_SENSOR]),
        st.sampled_from(["none", "none", "origin", "disposal"]),
    ),
    min_size=1,
    max_size=60,
).map(from_gaps)


@given(rows_st)
def test_alerts_form_episodes_whose_severity_only_rises(rows: list[Row]) -> None:
    _, alerts = dumping(rows)
    check_grammar(alerts)
    for prev, a in pairwise(alerts):
        if a.phase is Phase.UPDATE:
            assert (prev.severity, a.severity) == (Severity.MAJOR, Severity.CRITICAL)
        if a.phase is Phase.CLEAR:
            assert a.severity in (Severity.MAJOR, Severity.CRITICAL)


@given(rows_st)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert dumping(rows, restart=True) == dumping(rows)


@given(rows_st, st.integers(0, 59))
def test_replaying_a_prefix_changes_nothing(rows: list[Row], cut: int) -> None:
    state, _ = dumping(rows)
    assert dumping(rows[: cut + 1], state=state) == (state, [])
