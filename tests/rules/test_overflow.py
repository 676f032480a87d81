"""Station / bin overflow (满溢): golden timelines of (t_s, fill_ratio) rows, edges and properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import FacilityReading
from rules import overflow
from rules.alerts import Alert, Phase, alert_id
from rules.overflow import OverflowParams, OverflowState
from tests.rules.timelines import (
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    reading,
    run,
    summary,
)

PARAMS = OverflowParams(slight_ratio=0.8, severe_ratio=0.95, clear_ratio=0.7)
STATION = "ST-0001"
STATION_LON, STATION_LAT = 114.28, 30.58

Row = tuple[float, float]  # (t_s, fill_ratio)


def fill(
    rows: list[Row], *, state: OverflowState | None = None, restart: bool = False
) -> tuple[OverflowState, list[Alert]]:
    """Run the rule over a timeline of (t_s, fill_ratio)."""

    def step(s: OverflowState, r: FacilityReading) -> tuple[OverflowState, list[Alert]]:
        return overflow.step(s, r, PARAMS, subject=STATION, matter_code="06042", lon=STATION_LON, lat=STATION_LAT)

    events = [reading(t, f) for t, f in rows]
    return run(step, state or OverflowState(), events, restart=restart)


def graded(alerts: list[Alert]) -> list[tuple[str, float, float, str]]:
    """Return the summary with each alert's severity."""
    return [(*s, a.severity.value) for s, a in zip(summary(alerts), alerts, strict=True)]


def test_bands_open_escalate_once_and_clear_below_the_clear_ratio() -> None:
    rows = [
        (0, 0.50),
        (600, 0.80),  # slight band -> OPEN WARNING
        (1200, 0.90),
        (1800, 0.96),  # severe band -> UPDATE CRITICAL
        (2400, 0.99),
        (3000, 0.75),  # collected a bit, still above the clear ratio: stays open
        (3600, 0.69),  # -> CLEAR
        (4200, 0.40),
    ]
    _, alerts = fill(rows)
    assert graded(alerts) == [
        ("open", 600, 600, "warning"),
        ("update", 1800, 600, "critical"),
        ("clear", 3600, 600, "critical"),
    ]
    assert {a.alert_id for a in alerts} == {alert_id("overflow", STATION, ms(600))}
    assert {(a.lon, a.lat, a.matter_code) for a in alerts} == {(STATION_LON, STATION_LAT, "06042")}
    assert alerts[-1].evidence["max_fill_ratio"] == 0.99
    assert alerts[-1].evidence["duration_s"] == 3000.0


def test_jump_straight_to_severe_opens_critical_without_update() -> None:
    _, alerts = fill([(0, 0.3), (60, 1.02), (120, 0.97), (180, 0.1)])
    assert graded(alerts) == [("open", 60, 60, "critical"), ("clear", 180, 60, "critical")]


def test_hovering_around_severe_escalates_once() -> None:
    _, alerts = fill([(0, 0.85), (60, 0.96), (120, 0.94), (180, 0.96), (240, 0.93), (300, 0.97)])
    assert graded(alerts) == [("open", 0, 0, "warning"), ("update", 60, 0, "critical")]


def test_hovering_around_slight_is_one_episode() -> None:
    _, alerts = fill([(60.0 * i, f) for i, f in enumerate([0.81, 0.79, 0.82, 0.71, 0.80, 0.78])])
    assert graded(alerts) == [("open", 0, 0, "warning")]


def test_exact_band_edges() -> None:
    _, alerts = fill([(0, 0.8), (60, 0.95), (120, 0.7), (180, 0.6999)])
    assert graded(alerts) == [
        ("open", 0, 0, "warning"),  # == slight opens
        ("update", 60, 0, "critical"),  # == severe escalates
        ("clear", 180, 0, "critical"),  # == clear holds, below clears
    ]


def test_a_new_episode_starts_at_warning_again() -> None:
    _, alerts = fill([(0, 0.99), (60, 0.2), (120, 0.85)])
    assert graded(alerts) == [
        ("open", 0, 0, "critical"),
        ("clear", 60, 0, "critical"),
        ("open", 120, 120, "warning"),
    ]


def test_late_and_duplicate_readings_are_ignored() -> None:
    state, alerts = fill([(0, 0.9), (60, 0.9), (30, 0.1), (60, 0.1), (90, 0.96)])
    assert graded(alerts) == [("open", 0, 0, "warning"), ("update", 90, 0, "critical")]
    assert state.last_ts_ms == ms(90)


def test_state_round_trips_mid_episode() -> None:
    rows = [(0, 0.5), (60, 0.85), (120, 0.9), (180, 0.96), (240, 0.1)]
    opened, _ = fill(rows[:3])
    assert opened.episode_start_ms == ms(60) and not opened.severe
    assert json_round_trip(opened) == opened
    _, straight = fill(rows)
    _, resumed = fill(rows[3:], state=json_round_trip(opened))
    assert resumed == straight[1:]


fills = st.floats(0, 1.5, allow_nan=False)
timelines = st.lists(st.tuples(st.integers(1, 600), fills), min_size=1, max_size=60).map(from_gaps)


@given(timelines)
def test_alerts_follow_the_bands(rows: list[Row]) -> None:
    _, alerts = fill(rows)
    check_grammar(alerts)
    episodes: dict[str, list[Phase]] = {}
    for a in alerts:
        episodes.setdefault(a.alert_id, []).append(a.phase)
        f = a.evidence["fill_ratio"]
        assert f < PARAMS.clear_ratio if a.phase is Phase.CLEAR else f >= PARAMS.slight_ratio
    assert all(phases.count(Phase.UPDATE) <= 1 for phases in episodes.values())


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert fill(rows, restart=True) == fill(rows)
