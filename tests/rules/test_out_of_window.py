"""Out-of-window running: golden timelines of (t_s, speed_kmh) rows against a permit, in local time.

T0 (timeline second 0) is 2026-01-01 08:00 in Asia/Shanghai.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from devices.inventory import Permit
from devices.schedules import zone
from rules import out_of_window
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.out_of_window import OutOfWindowParams, OutOfWindowState, violation
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

TZ = "Asia/Shanghai"
PARAMS = OutOfWindowParams(min_speed_kmh=5, min_duration_s=60, stop_clear_s=120)
ROUTE = [(114.30, 30.60), (114.32, 30.60)]

Row = tuple[float, float]  # (t_s, speed_kmh)


def permit(
    windows: list[str] | None = None,
    valid_from: date = date(2025, 12, 1),
    valid_to: date = date(2026, 1, 31),
) -> Permit:
    """Build a permit; night-only by default."""
    return Permit.model_validate(
        {
            "permit_id": "P-1",
            "vehicle_id": "V-1",
            "route": ROUTE,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "windows": ["22:00-06:00"] if windows is None else windows,
        }
    )


NIGHT_ONLY = permit()


def running(
    rows: list[Row],
    p: Permit = NIGHT_ONLY,
    params: OutOfWindowParams = PARAMS,
    *,
    state: OutOfWindowState | None = None,
    restart: bool = False,
) -> tuple[OutOfWindowState, list[Alert]]:
    """Run the rule over a timeline of (t_s, speed_kmh)."""

    def step(s: OutOfWindowState, pos: VehiclePosition) -> tuple[OutOfWindowState, list[Alert]]:
        return out_of_window.step(s, pos, p, params, tz=TZ, subject=DEVICE, matter_code="08011")

    events = [position(t, speed_kmh=v) for t, v in rows]
    return run(step, state or OutOfWindowState(), events, restart=restart)


def test_daytime_run_opens_and_a_long_stop_clears() -> None:
    rows: list[Row] = [
        (0, 30),  # 08:00, night-only permit: episode starts
        (30, 30),
        (60, 30),  # 60 s -> OPEN
        (90, 0),  # red light
        (150, 0),
        (200, 30),  # moving again: same episode
        (300, 0),  # parked
        (419, 0),
        (420, 0),  # stopped 120 s -> CLEAR
        (500, 30),  # a new run starts
    ]
    _, alerts = running(rows)
    assert summary(alerts) == [("open", 60, 0), ("clear", 420, 0)]
    opened, cleared = alerts
    assert opened.alert_id == cleared.alert_id == alert_id("out_of_window", DEVICE, ms(0))
    assert {a.severity for a in alerts} == {Severity.MAJOR}
    assert opened.evidence == {
        "permit_id": "P-1",
        "reason": "outside_hours",
        "windows": ["22:00-06:00"],
        "valid_from": "2025-12-01",
        "valid_to": "2026-01-31",
        "speed_kmh": 30.0,
        "duration_s": 60.0,
    }
    assert cleared.evidence["ended_by"] == "stopped" and cleared.evidence["duration_s"] == 420.0


def test_the_window_opening_clears_at_once() -> None:
    morning = permit(["08:05-20:00"])  # opens at t = 300
    _, alerts = running([(0, 30), (60, 30), (299, 30), (300, 30), (400, 30)], morning)
    assert summary(alerts) == [("open", 60, 0), ("clear", 300, 0)]
    assert alerts[1].evidence["ended_by"] == "window_open"


def test_inside_the_window_or_without_windows_nothing_happens() -> None:
    rows: list[Row] = [(t, 40) for t in range(0, 3600, 30)]
    assert running(rows, permit(["06:00-12:00"]))[1] == []
    assert running(rows, permit([]))[1] == []


def test_standing_still_outside_the_window_is_not_running() -> None:
    assert running([(t, 4.9) for t in range(0, 600, 30)])[1] == []


def test_exact_thresholds() -> None:
    assert summary(running([(0, 5), (59.999, 5), (60, 5)])[1]) == [("open", 60, 0)]
    rows: list[Row] = [(0, 30), (60, 30), (61, 0), (180.999, 0), (181, 0)]
    assert summary(running(rows)[1]) == [("open", 60, 0), ("clear", 181, 0)]


def test_stop_clear_zero_clears_on_the_first_stop() -> None:
    eager = OutOfWindowParams(min_speed_kmh=5, min_duration_s=60, stop_clear_s=0)
    _, alerts = running([(0, 30), (60, 30), (70, 0)], params=eager)
    assert summary(alerts) == [("open", 60, 0), ("clear", 70, 0)]


def test_stop_and_go_traffic_is_one_episode() -> None:
    rows: list[Row] = [(10.0 * i, 0 if i % 3 == 2 else 30) for i in range(200)]  # never stopped 120 s
    _, alerts = running([*rows, (2100, 0), (2220, 0)])
    assert summary(alerts) == [("open", 60, 0), ("clear", 2220, 0)]


def test_expired_permit_at_any_hour() -> None:
    expired = permit([], valid_to=date(2025, 12, 31))
    _, alerts = running([(0, 30), (60, 30)], expired)
    assert summary(alerts) == [("open", 60, 0)]
    assert alerts[0].evidence["reason"] == "permit_expired"


def local(text: str) -> datetime:
    """Return a local date-time in the city's zone."""
    return datetime.fromisoformat(text).replace(tzinfo=zone(TZ))


@pytest.mark.parametrize(
    ("windows", "valid_from", "valid_to", "when", "expected"),
    [
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-01-10T23:00", None),
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-01-10T05:59", None),
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-01-10T06:00", "outside_hours"),
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-01-10T21:59", "outside_hours"),
        # the last night of a permit runs into the morning after valid_to ...
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-02-01T03:00", None),
        # ... and the night before valid_from belongs to the day before
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-01-01T03:00", "permit_not_yet_valid"),
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-02-01T22:30", "permit_expired"),
        (["22:00-06:00"], "2026-01-01", "2026-01-31", "2026-02-02T12:00", "permit_expired"),
        (["22:00-06:00"], "2026-01-05", "2026-01-31", "2026-01-02T12:00", "permit_not_yet_valid"),
        ([], "2026-01-01", "2026-01-31", "2026-01-31T23:59", None),
        ([], "2026-01-01", "2026-01-31", "2026-02-01T00:00", "permit_expired"),
        (["06:00-09:00", "18:00-20:00"], "2026-01-01", "2026-01-31", "2026-01-10T19:00", None),
        (
            ["06:00-09:00", "18:00-20:00"],
            "2026-01-01",
            "2026-01-31",
            "2026-01-10T12:00",
            "outside_hours",
        ),
    ],
)
def test_violation_in_local_time(
    windows: list[str], valid_from: str, valid_to: str, when: str, expected: str | None
) -> None:
    p = permit(windows, date.fromisoformat(valid_from), date.fromisoformat(valid_to))
    assert violation(p, local(when)) == expected


def test_local_time_comes_from_the_city_zone() -> None:
    # 2026-01-01T14:30Z is 22:30 in Shanghai (inside the night window) but 14:30 in UTC
    rows: list[Row] = [(14.5 * 3600, 30), (14.5 * 3600 + 60, 30)]
    assert running(rows)[1] == []

    def utc_step(s: OutOfWindowState, pos: VehiclePosition) -> tuple[OutOfWindowState, list[Alert]]:
        return out_of_window.step(s, pos, NIGHT_ONLY, PARAMS, tz="UTC", subject=DEVICE, matter_code="08011")

    _, alerts = run(utc_step, OutOfWindowState(), [position(t, speed_kmh=v) for t, v in rows])
    assert len(alerts) == 1


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [(0, 30), (60, 30), (50, 0), (60, 0), (70, 30), (200, 0), (320, 0)]
    state, alerts = running(rows)
    assert summary(alerts) == [("open", 60, 0), ("clear", 320, 0)]
    assert state == OutOfWindowState(last_ts_ms=ms(320))


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [(0, 30), (30, 30), (60, 30), (90, 0), (150, 0), (250, 0)]
    stopped, _ = running(rows[:5])
    assert stopped.is_open and stopped.compliant_since_ms == ms(90) and stopped.reason == "outside_hours"
    assert json_round_trip(stopped) == stopped
    _, straight = running(rows)
    _, resumed = running(rows[5:], state=json_round_trip(stopped))
    assert resumed == straight[1:]


speeds = st.sampled_from([0.0, 3.0, 5.0, 30.0])
timelines = st.lists(st.tuples(st.integers(1, 90), speeds), min_size=1, max_size=60).map(
    lambda rows: [(t + 12 * 3600, v) for t, v in from_gaps(rows)]  # from 20:00: crosses 22:00
)


@given(timelines)
def test_alerts_form_episodes_that_lasted_long_enough(rows: list[Row]) -> None:
    _, alerts = running(rows)
    check_grammar(alerts)
    assert {a.phase for a in alerts} <= {Phase.OPEN, Phase.CLEAR}
    for a in alerts:
        assert a.ts_ms - a.episode_start_ms >= PARAMS.min_duration_s * 1000


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert running(rows, restart=True) == running(rows)


@given(timelines, st.integers(0, 59))
def test_replaying_a_prefix_changes_nothing(rows: list[Row], cut: int) -> None:
    state, _ = running(rows)
    assert running(rows[: cut + 1], state=state) == (state, [])
