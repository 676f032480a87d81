"""The working calendar: working periods of a day, weekends, holidays, make-up working days.

Deadlines of a 数字城管 centre run in working hours or working days (the city's 考评办法; holidays and
make-up working days from the State Council's yearly holiday notice, in tickets.yaml). Times are
UTC epoch milliseconds in and out; the calendar's own time zone decides what a working day is.
One working day is the length of the day's working periods (e.g. 7.5 h for 08:30-12:00 and
13:30-17:30), so "2 working days" from Monday 10:00 ends Wednesday 10:00. No clock is read here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from tickets.errors import CalendarError

MAX_DAYS = 3660  # ten years of searching for working time is a broken calendar, not a deadline
Unit = Literal["hours", "days"]


@dataclass(frozen=True, slots=True)
class Duration:
    """An amount of working time: working hours or working days."""

    value: float
    unit: Unit = "hours"

    def label(self) -> str:
        """Return e.g. '4 工作时' or '2 工作日'."""
        word = "工作时" if self.unit == "hours" else "工作日"
        return f"{self.value:g} {word}"


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Working periods per day, weekend days, holidays and make-up working days (调休)."""

    tz: ZoneInfo
    periods: tuple[tuple[time, time], ...]
    weekend: frozenset[int] = frozenset({6, 7})  # ISO weekdays: Saturday, Sunday
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # weekend days worked instead of a holiday

    def __post_init__(self) -> None:
        ends = [t for p in self.periods for t in p]
        if not self.periods or ends != sorted(ends) or any(a >= b for a, b in self.periods):
            raise CalendarError(f"working periods must be non-empty, ordered and disjoint: {self.periods}")

    @property
    def day_ms(self) -> int:
        """Return the working time of one working day in ms."""
        return sum(_ms_between(a, b) for a, b in self.periods)

    def is_working_day(self, d: date) -> bool:
        """Tell whether people work on that local date."""
        if d in self.workdays:
            return True
        return d not in self.holidays and d.isoweekday() not in self.weekend

    def to_ms(self, duration: Duration) -> int:
        """Return the working time of a duration in ms."""
        per_unit = 3_600_000 if duration.unit == "hours" else self.day_ms
        return round(duration.value * per_unit)

    def add(self, start_ms: int, duration: Duration) -> int:
        """Return the moment a duration of working time after start_ms ends."""
        return self.add_working_ms(start_ms, self.to_ms(duration))

    def add_working_ms(self, start_ms: int, amount_ms: int) -> int:
        """Return the first moment by which amount_ms of working time after start_ms has passed."""
        if amount_ms <= 0:
            return start_ms
        left = amount_ms
        for begin, end in self._periods_from(start_ms):
            usable = end - max(begin, start_ms)
            if usable >= left:
                return max(begin, start_ms) + left
            left -= usable
        raise CalendarError(f"no working time within {MAX_DAYS} days")

    def working_ms_between(self, a_ms: int, b_ms: int) -> int:
        """Return the working time from a_ms to b_ms (0 if b_ms is not later)."""
        if b_ms <= a_ms:
            return 0
        total = 0
        for begin, end in self._periods_from(a_ms, days=(b_ms - a_ms) // 86_400_000 + 2):
            if begin >= b_ms:
                break
            total += min(end, b_ms) - max(begin, a_ms)
        return total

    def is_working_time(self, at_ms: int) -> bool:
        """Tell whether at_ms falls inside a working period."""
        begin, end = next(self._periods_from(at_ms))
        return begin <= at_ms < end

    def _periods_from(self, start_ms: int, days: int = MAX_DAYS) -> Iterator[tuple[int, int]]:
        """Yield (begin, end) ms of the working periods that end after start_ms, for some days."""
        day = datetime.fromtimestamp(start_ms / 1000, tz=self.tz).date()
        for offset in range(days):
            d = day + timedelta(days=offset)
            if not self.is_working_day(d):
                continue
            for a, b in self.periods:
                begin, end = self._local_ms(d, a), self._local_ms(d, b)
                if end > start_ms:
                    yield begin, end
        if days == MAX_DAYS:
            raise CalendarError(f"no working time within {MAX_DAYS} days")

    def _local_ms(self, d: date, t: time) -> int:
        return int(datetime.combine(d, t, tzinfo=self.tz).timestamp() * 1000)


def _ms_between(a: time, b: time) -> int:
    base = date(2000, 1, 1)
    return int((datetime.combine(base, b) - datetime.combine(base, a)).total_seconds() * 1000)
