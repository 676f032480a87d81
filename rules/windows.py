"""Event-time window maths for the rules: tumbling windows and their incremental means.

A window is a half-open interval ``[start_ms, end_ms)`` of event time. ``Tumbling`` aligns windows
to the epoch, or to local midnight of a time zone, where they may also be cut at local times of
day (22:00, 06:00) so that no window straddles the edge of a night; the last window of a day ends
at the next local midnight. ``WindowMean`` folds readings into one window's running mean, and
``advance`` moves it along a stream, returning the window a reading closed. A rule keeps its open
window in its own state (no faust windowed table), so replays give the same windows.

Pure: local time comes from the event's epoch ms and the zone name; nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from devices.schedules import local_time, zone
from rules.state import FlatState

DAY = timedelta(days=1)


def epoch_window_start(ts_ms: int, window_ms: int) -> int:
    """Return the start of the epoch-aligned window of ``window_ms`` holding ``ts_ms``."""
    return ts_ms - ts_ms % window_ms


def at_local(day: date, t: time, tz: str) -> int:
    """Return the epoch ms of a local date and time of day in a zone."""
    return round(datetime.combine(day, t, tzinfo=zone(tz)).timestamp() * 1000)


def local_day(ts_ms: int, tz: str) -> date:
    """Return the local calendar date of an epoch-ms timestamp."""
    return local_time(ts_ms, tz).date()


def local_midnight_ms(ts_ms: int, tz: str) -> int:
    """Return the epoch ms of the local midnight at or before ``ts_ms``."""
    return at_local(local_day(ts_ms, tz), time(0), tz)


@dataclass(frozen=True, slots=True)
class Tumbling:
    """Tumbling windows of ``window_ms``; aligned to the epoch, or to local midnight when ``tz`` is set."""

    window_ms: int
    tz: str | None = None
    cuts: tuple[time, ...] = ()  # local times of day that always start a window (needs tz)

    def __post_init__(self) -> None:
        if self.window_ms <= 0:
            raise ValueError(f"window_ms must be positive, got {self.window_ms}")
        if self.cuts and self.tz is None:
            raise ValueError("cuts are local times of day: give a time zone")

    def bounds(self, ts_ms: int) -> tuple[int, int]:
        """Return ``(start_ms, end_ms)`` of the window holding ``ts_ms``."""
        if self.tz is None:
            start = epoch_window_start(ts_ms, self.window_ms)
            return start, start + self.window_ms
        day = local_day(ts_ms, self.tz)
        midnight, next_midnight = at_local(day, time(0), self.tz), at_local(day + DAY, time(0), self.tz)
        aligned = midnight + epoch_window_start(ts_ms - midnight, self.window_ms)
        edges = [at_local(day, c, self.tz) for c in self.cuts]
        start = max([aligned, *(e for e in edges if e <= ts_ms)])
        end = min([aligned + self.window_ms, next_midnight, *(e for e in edges if e > ts_ms)])
        return start, end


@dataclass(frozen=True, slots=True)
class WindowMean(FlatState):
    """The running mean (and maximum) of the readings seen so far in one window."""

    start_ms: int
    end_ms: int
    count: int = 0
    mean: float = 0.0
    peak: float = float("-inf")

    def add(self, value: float) -> WindowMean:
        """Fold one value into the mean (incremental, no sum that can grow without bound)."""
        count = self.count + 1
        mean = self.mean + (value - self.mean) / count
        return replace(self, count=count, mean=mean, peak=max(self.peak, value))

    def holds(self, ts_ms: int) -> bool:
        """Tell whether a timestamp falls in this window."""
        return self.start_ms <= ts_ms < self.end_ms

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (no infinities: an empty window has no peak)."""
        d = FlatState.to_dict(self)
        d["peak"] = self.peak if self.count else None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WindowMean:
        """Rebuild the window from the dict ``to_dict`` made."""
        peak = d.get("peak")
        return cls(**{**d, "peak": float("-inf") if peak is None else peak})


def optional_window(d: Mapping[str, Any] | None) -> WindowMean | None:
    """Rebuild an optional window stored inside a rule state."""
    return None if d is None else WindowMean.from_dict(d)


def advance(
    current: WindowMean | None, ts_ms: int, value: float, windows: Tumbling
) -> tuple[WindowMean, WindowMean | None]:
    """Fold a reading into its window; return the open window and the window it closed, if any.

    The caller keeps ``ts_ms`` increasing. Windows with no reading are never materialised, so a
    gap in the stream closes only the last window that had data.
    """
    if current is not None and current.holds(ts_ms):
        return current.add(value), None
    start, end = windows.bounds(ts_ms)
    closed = current if current is not None and current.count else None
    return WindowMean(start, end).add(value), closed
