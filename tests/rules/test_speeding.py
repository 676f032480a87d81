"""Speeding (超速): golden timelines of (t_s, speed_kmh) rows, tolerance band, segment limits."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import speeding
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.speeding import SpeedingParams, SpeedingState, judge
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

PARAMS = SpeedingParams(urban_limit_kmh=40, tolerance_kmh=5, min_duration_s=30)  # > 45 speeding, <= 40 legal

Row = tuple[float, float]  # (t_s, speed_kmh)
LimitedRow = tuple[float, float, float | None]  # (t_s, speed_kmh, segment limit or None)


def speeds(
    rows: Sequence[Row] | Sequence[LimitedRow],
    params: SpeedingParams = PARAMS,
    *,
    state: SpeedingState | None = None,
    restart: bool = False,
) -> tuple[SpeedingState, list[Alert]]:
    """Run the rule over (t_s, speed_kmh) rows, optionally with a per-position limit."""

    def step(s: SpeedingState, row: tuple[VehiclePosition, float | None]) -> tuple[SpeedingState, list[Alert]]:
        pos, limit = row
        return speeding.step(s, pos, params, subject=DEVICE, matter_code="08011", limit_kmh=limit)

    limited = [(r[0], r[1], r[2] if len(r) > 2 else None) for r in rows]
    events = [(position(t, speed_kmh=v), limit) for t, v, limit in limited]
    return run(step, state or SpeedingState(), events, restart=restart)


def test_sustained_speeding_opens_with_peak_and_clears_under_the_limit() -> None:
    rows: list[Row] = [
        (0, 38),
        (10, 52),  # over 45: episode starts
        (20, 61),
        (30, 48),
        (40, 47),  # 30 s over -> OPEN
        (50, 43),  # tolerance band: still speeding
        (60, 39),  # under the limit -> CLEAR
    ]
    _, alerts = speeds(rows)
    assert summary(alerts) == [("open", 40, 10), ("clear", 60, 10)]
    assert alerts[0].alert_id == alerts[1].alert_id == alert_id("speeding", DEVICE, ms(10))
    assert {a.severity for a in alerts} == {Severity.MAJOR}
    assert alerts[0].evidence == {
        "speed_kmh": 47.0,
        "limit_kmh": 40.0,
        "tolerance_kmh": 5.0,
        "max_speed_kmh": 61.0,
        "max_over_kmh": 21.0,
        "duration_s": 30.0,
    }
    assert alerts[1].evidence["max_speed_kmh"] == 61.0 and alerts[1].evidence["speed_kmh"] == 39.0


def test_within_the_tolerance_nothing_opens() -> None:
    assert speeds([(t, 45) for t in range(0, 300, 10)])[1] == []


def test_exact_thresholds() -> None:
    assert judge(45.0, 40, 5) is None and judge(45.01, 40, 5) is True
    assert judge(40.0, 40, 5) is False and judge(40.01, 40, 5) is None
    assert summary(speeds([(0, 46), (29.999, 46), (30, 46)])[1]) == [("open", 30, 0)]
    assert summary(speeds([(0, 46), (30, 46), (40, 40.01), (50, 40)])[1]) == [
        ("open", 30, 0),
        ("clear", 50, 0),
    ]


def test_short_burst_is_not_speeding() -> None:
    assert speeds([(0, 70), (20, 70), (29, 70), (35, 38), (40, 70), (60, 70), (65, 30)])[1] == []


def test_band_points_keep_an_open_episode_from_flapping() -> None:
    noisy = [46.0, 41, 44, 49, 42, 47, 43, 50] * 5  # straddles 45 but never gets back to 40
    rows: list[Row] = [(10.0 * i, v) for i, v in enumerate(noisy)] + [(400, 35)]
    assert summary(speeds(rows)[1]) == [("open", 30, 0), ("clear", 400, 0)]
    no_band = SpeedingParams(urban_limit_kmh=45, tolerance_kmh=0, min_duration_s=0)
    assert len(speeds(rows, no_band)[1]) > 10  # what the band saves the command centre from


def test_segment_limit_overrides_the_urban_limit() -> None:
    expressway: list[LimitedRow] = [(t, 58, 60.0) for t in range(0, 120, 10)]
    assert speeds(expressway)[1] == []
    leaving: list[LimitedRow] = [(0, 58, 60.0), (10, 58, None), (40, 58, None), (50, 30, None)]
    _, alerts = speeds(leaving)
    assert summary(alerts) == [("open", 40, 10), ("clear", 50, 10)]
    assert alerts[0].evidence["limit_kmh"] == 40.0


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [(0, 60), (30, 60), (20, 30), (30, 30), (40, 30)]
    state, alerts = speeds(rows)
    assert summary(alerts) == [("open", 30, 0), ("clear", 40, 0)]
    assert state == SpeedingState(last_ts_ms=ms(40))


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [(0, 50), (10, 70), (20, 50), (30, 50), (40, 30)]
    pending, _ = speeds(rows[:3])
    assert pending.max_speed_kmh == 70 and pending.max_over_kmh == 30 and not pending.is_open
    assert json_round_trip(pending) == pending
    assert speeds(rows[3:], state=json_round_trip(pending))[1] == speeds(rows)[1]


timelines = st.lists(st.tuples(st.integers(1, 20), st.floats(0, 90, allow_nan=False)), min_size=1, max_size=60).map(
    from_gaps
)


@given(timelines)
def test_alerts_form_episodes_with_a_peak_over_the_limit(rows: list[Row]) -> None:
    _, alerts = speeds(rows)
    check_grammar(alerts)
    assert {a.phase for a in alerts} <= {Phase.OPEN, Phase.CLEAR}
    for a in alerts:
        assert a.ts_ms - a.episode_start_ms >= PARAMS.min_duration_s * 1000
        assert a.evidence["max_speed_kmh"] > PARAMS.urban_limit_kmh + PARAMS.tolerance_kmh


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert speeds(rows, restart=True) == speeds(rows)


@given(timelines, st.integers(0, 59))
def test_replaying_a_prefix_changes_nothing(rows: list[Row], cut: int) -> None:
    state, _ = speeds(rows)
    assert speeds(rows[: cut + 1], state=state) == (state, [])
