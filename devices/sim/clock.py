"""Local time of sim seconds: daily windows (permit hours, night, schedules) as spans of sim time.

Sim time ``t`` is seconds after the run's start; the local date-time of ``t`` comes from the
run's ``start_ms`` and the city's time zone. Nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from devices.schedules import Schedule, TimeWindow, zone

Span = tuple[float, float]
ALWAYS: list[Span] = [(float("-inf"), float("inf"))]


@dataclass(frozen=True, slots=True)
class SimClock:
    """Converts between sim seconds and local date-times of one run."""

    start_ms: int
    tz: str

    def local(self, t: float) -> datetime:
        """Return the local date-time of sim second ``t``."""
        return datetime.fromtimestamp((self.start_ms + t * 1000.0) / 1000.0, tz=zone(self.tz))

    def sim_s(self, local: datetime) -> float:
        """Return the sim second of a local date-time (naive: in the city's time zone)."""
        aware = local if local.tzinfo is not None else local.replace(tzinfo=zone(self.tz))
        return aware.timestamp() - self.start_ms / 1000.0

    def days(self, horizon_s: float) -> list[date]:
        """Return the local dates the run touches, with a day of margin either side."""
        first, last = self.local(0.0).date(), self.local(horizon_s).date()
        return [first + timedelta(days=k) for k in range(-1, (last - first).days + 2)]


def window_spans(
    windows: Sequence[TimeWindow], clock: SimClock, horizon_s: float, valid: tuple[date, date] | None = None
) -> list[Span]:
    """Return the merged spans of sim time inside the daily windows (none: all day) of the valid days."""
    if valid is None and not windows:
        return list(ALWAYS)
    days = [d for d in clock.days(horizon_s) if valid is None or valid[0] <= d <= valid[1]]
    spans = []
    for day in days:
        for w in windows or [TimeWindow(start=time(0), end=time(0))]:
            end_day = day if w.start < w.end else day + timedelta(days=1)
            spans.append((clock.sim_s(datetime.combine(day, w.start)), clock.sim_s(datetime.combine(end_day, w.end))))
    return merge(spans)


def merge(spans: list[Span]) -> list[Span]:
    """Return overlapping or touching spans merged, in time order."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def covers(spans: Sequence[Span], a: float, b: float) -> bool:
    """Tell whether one span holds the whole of [a, b]."""
    return any(s <= a and b <= e for s, e in spans)


def touches(spans: Sequence[Span], a: float, b: float) -> bool:
    """Tell whether any span overlaps [a, b]."""
    return any(s < b and a < e for s, e in spans)


def next_start(spans: Sequence[Span], t: float) -> float | None:
    """Return the earliest time >= t inside a span, or None if no span is left."""
    for s, e in spans:
        if t < e:
            return max(s, t)
    return None


def span_end(spans: Sequence[Span], t: float) -> float | None:
    """Return the end of the span holding t, or None when t is in none."""
    return next((e for s, e in spans if s <= t < e), None)


def schedule_active(schedules: Sequence[Schedule], clock: SimClock, t: float) -> bool:
    """Tell whether any of the schedules applies at sim second ``t``."""
    local = clock.local(t)
    return any(s.active(local) for s in schedules)
