"""Time windows and calendars of city data (permit hours, night work, forbidden-zone hours).

Pure: local time is computed from an event's epoch ms and the city's time zone; nothing here
reads a clock.
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _parse_window(value: object) -> object:
    """Accept ``"22:00-06:00"`` as well as ``{start: ..., end: ...}``."""
    if isinstance(value, str):
        start, sep, end = value.partition("-")
        if not sep:
            raise ValueError(f"expected 'HH:MM-HH:MM', got {value!r}")
        return {"start": start.strip(), "end": end.strip()}
    return value


class TimeWindow(BaseModel):
    """A daily window of local time; it wraps midnight when end <= start (22:00-06:00)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: time
    end: time

    def contains(self, t: time) -> bool:
        """Tell whether a local time of day falls in the window (start inclusive, end exclusive)."""
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


Window = Annotated[TimeWindow, BeforeValidator(_parse_window)]


class DateRange(BaseModel):
    """An inclusive range of dates."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: date
    end: date

    @model_validator(mode="after")
    def _in_order(self) -> DateRange:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    def contains(self, d: date) -> bool:
        """Tell whether a date is in the range."""
        return self.start <= d <= self.end


class Schedule(BaseModel):
    """When something applies: daily windows, optionally only on some weekdays and date ranges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows: list[Window] = Field(default_factory=list, description="empty: all day")
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] | None = Field(default=None, description="1 = Monday")
    dates: list[DateRange] | None = None

    def active(self, local: datetime) -> bool:
        """Tell whether the schedule applies at a local date-time."""
        day = _window_day(self.windows, local)
        if self.weekdays is not None and day.isoweekday() not in self.weekdays:
            return False
        if self.dates is not None and not any(r.contains(day) for r in self.dates):
            return False
        return not self.windows or any(w.contains(local.time()) for w in self.windows)


def _window_day(windows: list[TimeWindow], local: datetime) -> date:
    """Return the day a moment counts for: after midnight in a wrapping window, the day before."""
    for w in windows:
        if w.end <= w.start and local.time() < w.end:
            return date.fromordinal(local.date().toordinal() - 1)
    return local.date()


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    """Return a time zone by IANA name (cached)."""
    return ZoneInfo(name)


def local_time(ts_ms: int, tz: str) -> datetime:
    """Return the local date-time of an epoch-ms timestamp in a time zone."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=zone(tz))
