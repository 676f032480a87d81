"""Working-time arithmetic: golden cases across lunch, nights, weekends, holidays and 调休 days, plus properties."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tickets.conftest import REPO_CONFIG, TZ, at
from tickets.calendar import Duration, WorkingCalendar
from tickets.config import TicketConfig, load_config
from tickets.errors import CalendarError

H = 3_600_000


def local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=TZ).strftime("%Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("start", "duration", "deadline"),
    [
        ("2026-03-02 09:00", Duration(2), "2026-03-02 11:00"),  # Monday morning, within the period
        ("2026-03-02 11:00", Duration(2), "2026-03-02 14:30"),  # over lunch (12:00-13:30 does not count)
        ("2026-03-02 16:00", Duration(4), "2026-03-03 11:00"),  # over the night
        ("2026-03-02 12:30", Duration(1), "2026-03-02 14:30"),  # starts at lunch: counting starts 13:30
        ("2026-03-02 20:00", Duration(0.5), "2026-03-03 09:00"),  # starts at night
        ("2026-03-06 16:00", Duration(4), "2026-03-09 11:00"),  # Friday over the weekend
        ("2026-03-07 10:00", Duration(4), "2026-03-09 14:00"),  # starts on a Saturday: Monday 3.5 h + 0.5 h
        ("2026-03-02 17:30", Duration(1, "days"), "2026-03-03 17:30"),  # one working day = 7.5 h
        ("2026-03-02 10:00", Duration(2, "days"), "2026-03-04 10:00"),
        ("2026-09-30 16:00", Duration(4), "2026-10-08 11:00"),  # National Day holiday 10-01..10-07
        ("2026-09-18 17:00", Duration(1), "2026-09-20 09:00"),  # Sunday 09-20 is a make-up working day
        ("2026-02-13 17:00", Duration(2, "days"), "2026-02-24 17:00"),  # Spring Festival: Sat 02-14 works, 15-23 off
        ("2026-03-02 09:00", Duration(0), "2026-03-02 09:00"),
        ("2026-03-02 11:59", Duration(1 / 60), "2026-03-02 12:00"),  # ends exactly at the end of a period
    ],
)
def test_deadlines(config: TicketConfig, start: str, duration: Duration, deadline: str) -> None:
    assert local(config.policy.calendar.add(at(start), duration)) == deadline


@pytest.mark.parametrize(
    ("a", "b", "hours"),
    [
        ("2026-03-02 09:00", "2026-03-02 11:00", 2.0),
        ("2026-03-02 11:00", "2026-03-02 14:30", 2.0),
        ("2026-03-06 17:00", "2026-03-09 09:00", 1.0),  # Friday 17:00 to Monday 09:00: 0.5 h + 0.5 h
        ("2026-10-01 09:00", "2026-10-07 18:00", 0.0),  # holiday week
        ("2026-03-02 11:00", "2026-03-02 10:00", 0.0),  # backwards
    ],
)
def test_working_time_between(config: TicketConfig, a: str, b: str, hours: float) -> None:
    assert config.policy.calendar.working_ms_between(at(a), at(b)) == hours * H


def test_holiday_and_workday_classification(config: TicketConfig) -> None:
    cal = config.policy.calendar
    assert not cal.is_working_day(datetime(2026, 10, 1).date())
    assert cal.is_working_day(datetime(2026, 10, 10).date())  # a Saturday, make-up working day
    assert not cal.is_working_day(datetime(2026, 3, 7).date())  # an ordinary Saturday
    assert cal.is_working_time(at("2026-03-02 10:00")) and not cal.is_working_time(at("2026-03-02 12:30"))


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(CalendarError):
        WorkingCalendar(TZ, ((time(13), time(12)),))
    never = WorkingCalendar(TZ, ((time(9), time(10)),), weekend=frozenset(range(1, 8)))
    with pytest.raises(CalendarError):
        never.add(at("2026-03-02 09:00"), Duration(1))
    with pytest.raises(ValueError, match="both holiday and working day"):
        TicketConfig.model_validate({"calendar": {"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}})


STARTS = st.integers(min_value=at("2025-12-20 00:00"), max_value=at("2026-12-20 00:00"))
AMOUNTS = st.integers(min_value=0, max_value=80 * H)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, amount=AMOUNTS)
def test_adding_then_measuring_gives_back_the_amount(start: int, amount: int) -> None:
    cal = _cal()
    end = cal.add_working_ms(start, amount)
    assert cal.working_ms_between(start, end) == amount
    if amount > 0:  # a deadline lands inside working time (or exactly at a period's end)
        assert cal.is_working_time(end - 1)


@settings(max_examples=200, deadline=None)
@given(start=STARTS, a=AMOUNTS, b=AMOUNTS)
def test_deadlines_are_monotonic(start: int, a: int, b: int) -> None:
    cal = _cal()
    lo, hi = sorted((a, b))
    assert cal.add_working_ms(start, lo) <= cal.add_working_ms(start, hi)
    assert cal.add_working_ms(cal.add_working_ms(start, lo), hi - lo) == cal.add_working_ms(start, hi)


def _cal() -> WorkingCalendar:
    return load_config(REPO_CONFIG).policy.calendar
