"""Automatic verification (核查) from evidence, where the evidence can prove the work was done.

- ``fill_drop_after_dwell`` (station / bin overflow): the fill dropped under the clear band
  after a collection truck dwelt at the facility since the case was dispatched.
- ``pm10_below`` (site dust): PM10 stayed under the limit for a whole hour (``hold_ms``) after
  dispatch, with no gap in readings longer than ``max_gap_ms``.
Otherwise the case waits for an inspector. Pure: positions and readings are passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rules.geometry import distance_m


@dataclass(frozen=True, slots=True)
class Fix:
    """A vehicle position: time, place, speed."""

    ts_ms: int
    lon: float
    lat: float
    speed_kmh: float


@dataclass(frozen=True, slots=True)
class Dwell:
    """A vehicle standing still near a place from start to end."""

    device_id: str
    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        """Return how long the dwell lasted."""
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class Verdict:
    """Evidence that the case is resolved, in words and figures."""

    reason: str
    detail: dict[str, object]


def dwells(
    device_id: str,
    track: Sequence[Fix],
    lon: float,
    lat: float,
    radius_m: float,
    min_ms: int,
    max_speed_kmh: float = 3.0,
) -> list[Dwell]:
    """Return the stays of at least min_ms within radius_m of a place, slower than max_speed_kmh."""
    out: list[Dwell] = []
    start: int | None = None
    last = 0
    for fix in sorted(track, key=lambda f: f.ts_ms):
        still = fix.speed_kmh <= max_speed_kmh and distance_m(fix.lon, fix.lat, lon, lat) <= radius_m
        if still:
            start, last = (fix.ts_ms if start is None else start), fix.ts_ms
        elif start is not None:
            out += [Dwell(device_id, start, last)] if last - start >= min_ms else []
            start = None
    if start is not None and last - start >= min_ms:
        out.append(Dwell(device_id, start, last))
    return out


def fill_drop_after_dwell(
    dispatched_ms: int,
    cleared_ms: int | None,
    fill_ratio: float | None,
    visits: Sequence[Dwell],
    grace_ms: int = 600_000,
) -> Verdict | None:
    """Verify an overflow case: the fill cleared after a truck dwell that began after dispatch."""
    if cleared_ms is None or cleared_ms < dispatched_ms:
        return None
    for d in sorted(visits, key=lambda d: d.start_ms):
        if d.start_ms >= dispatched_ms and d.start_ms <= cleared_ms <= d.end_ms + grace_ms:
            reason = f"满溢消除: 清运车 {d.device_id} 停靠 {d.duration_ms // 1000} s 后满溢度降至 {fill_ratio}"
            return Verdict(
                reason,
                {
                    "kind": "fill_drop_after_dwell",
                    "vehicle": d.device_id,
                    "dwell_start_ms": d.start_ms,
                    "dwell_end_ms": d.end_ms,
                    "cleared_ms": cleared_ms,
                    "fill_ratio": fill_ratio,
                },
            )
    return None


def pm10_below(
    since_ms: int, readings: Sequence[tuple[int, float]], limit_ugm3: float, hold_ms: int, max_gap_ms: int = 900_000
) -> Verdict | None:
    """Verify a dust case: PM10 stayed under the limit for hold_ms, ending at the latest reading."""
    run_start: int | None = None
    prev: int | None = None
    for ts, pm10 in sorted(r for r in readings if r[0] >= since_ms):
        if pm10 >= limit_ugm3 or (prev is not None and ts - prev > max_gap_ms):
            run_start = None if pm10 >= limit_ugm3 else ts
        elif run_start is None:
            run_start = ts
        prev = ts
    if run_start is None or prev is None or prev - run_start < hold_ms:
        return None
    minutes = (prev - run_start) // 60_000
    return Verdict(
        f"扬尘达标: PM10 连续 {minutes} 分钟低于 {limit_ugm3:g} µg/m³",
        {"kind": "pm10_below", "from_ms": run_start, "to_ms": prev, "limit_ugm3": limit_ugm3},
    )
