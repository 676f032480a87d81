"""Local time of sim seconds: permit hours, validity dates and schedules as spans of sim time."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from devices.schedules import Schedule, TimeWindow
from devices.sim.clock import (
    ALWAYS,
    SimClock,
    covers,
    merge,
    next_start,
    schedule_active,
    span_end,
    touches,
    window_spans,
)

TZ = "Asia/Shanghai"
MONDAY_21H = int(datetime(2026, 11, 16, 21, tzinfo=ZoneInfo(TZ)).timestamp() * 1000)
NIGHT = TimeWindow(start=time(22), end=time(6))


def test_sim_seconds_and_local_time_convert_both_ways() -> None:
    clock = SimClock(MONDAY_21H, TZ)
    assert clock.local(3600).isoformat() == "2026-11-16T22:00:00+08:00"
    assert clock.sim_s(datetime(2026, 11, 17, 6)) == pytest.approx(9 * 3600)
    assert clock.days(12_000) == [date(2026, 11, d) for d in (15, 16, 17, 18)]


def test_a_night_window_gives_one_span_per_night() -> None:
    spans = window_spans([NIGHT], SimClock(MONDAY_21H, TZ), 12_000)
    assert (3600.0, 9 * 3600.0) in spans and (-23 * 3600.0, -15 * 3600.0) in spans
    assert covers(spans, 4000, 8000) and not covers(spans, 3000, 4000) and touches(spans, 3000, 4000)
    assert next_start(spans, 0.0) == 3600.0 and span_end(spans, 5000.0) == 9 * 3600.0 and span_end(spans, 0.0) is None


def test_no_windows_means_always_within_the_valid_days() -> None:
    clock = SimClock(MONDAY_21H, TZ)
    assert window_spans([], clock, 12_000) == ALWAYS
    (span,) = window_spans([], clock, 12_000, (date(2026, 1, 1), date(2026, 11, 16)))
    assert span[1] == 3 * 3600.0  # the permit's last valid day ends at midnight
    night = window_spans([NIGHT], clock, 12_000, (date(2026, 1, 1), date(2026, 11, 16)))
    assert night[-1] == (3600.0, 9 * 3600.0)  # a night permit's last night runs into the morning after


def test_merge_joins_touching_spans() -> None:
    assert merge([(5.0, 6.0), (0.0, 2.0), (2.0, 3.0)]) == [(0.0, 3.0), (5.0, 6.0)]


def test_schedules_are_asked_at_local_time() -> None:
    weekday_nights = Schedule(windows=[NIGHT], weekdays=[1, 2, 3, 4, 5])
    clock = SimClock(MONDAY_21H, TZ)
    assert not schedule_active([weekday_nights], clock, 0) and schedule_active([weekday_nights], clock, 4 * 3600)
    saturday = SimClock(MONDAY_21H + 5 * 86_400_000, TZ)
    assert not schedule_active([weekday_nights], saturday, 2 * 3600)
