"""How a simulated vehicle moves: a plan of timed phases along a path, built from seeded draws.

A phase is a stretch of sim time in which the vehicle either drives at constant speed between two
arc lengths of its path or stands still (traffic stop, loading, unloading, collecting). Speeds stay
at 25-37 km/h so that noise never takes a report over a 40 km/h urban limit.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

CRUISE_KMH = (25.0, 37.0)
MAX_CRUISE_MS = CRUISE_KMH[1] / 3.6
CHUNK_M = (250.0, 600.0)


class Activity(StrEnum):
    """What the vehicle is doing during a phase."""

    DRIVE = "drive"
    STOP = "stop"  # traffic light or congestion
    LOAD = "load"  # at the origin site's loading bay
    WASH = "wash"  # at the site's wash station, before leaving
    UNLOAD = "unload"  # at the disposal site
    COLLECT = "collect"  # garbage collection point
    PARK = "park"  # waiting (outside the permit's hours, or for good)
    DUMP = "dump"  # injected: tipping the load with the body lifted, outside a disposal site
    SHED = "shed"  # injected: the load vanishes during a stop, body down


class Leg(StrEnum):
    """Which part of its duty cycle the vehicle is in."""

    LOADED = "loaded"
    EMPTY = "empty"
    ROUND = "round"


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of sim time spent driving from ``s0`` to ``s1`` (or standing at ``s0 == s1``)."""

    start_s: float
    end_s: float
    s0: float
    s1: float
    activity: Activity
    leg: Leg
    forward: bool = True

    @property
    def duration_s(self) -> float:
        """Length of the phase in seconds."""
        return self.end_s - self.start_s

    @property
    def speed_kmh(self) -> float:
        """Constant speed during the phase."""
        return abs(self.s1 - self.s0) / self.duration_s * 3.6 if self.duration_s > 0 else 0.0

    def progress(self, t: float) -> float:
        """Return the fraction (0-1) of the phase elapsed at sim time ``t``."""
        return min(max((t - self.start_s) / self.duration_s, 0.0), 1.0) if self.duration_s > 0 else 1.0

    def s_at(self, t: float) -> float:
        """Return the arc length reached at sim time ``t``."""
        return self.s0 + (self.s1 - self.s0) * self.progress(t)


@dataclass(frozen=True, slots=True)
class StopPolicy:
    """How often a vehicle stops between driving chunks, and for how long."""

    activity: Activity = Activity.STOP
    probability: float = 0.35
    seconds: tuple[float, float] = (8.0, 40.0)


TRAFFIC = StopPolicy()
NO_STOPS = StopPolicy(probability=0.0)


def drive_leg(rng: np.random.Generator, s_from: float, s_to: float, leg: Leg, stops: StopPolicy) -> list[Phase]:
    """Return phases (starting at t=0) that drive from ``s_from`` to ``s_to`` in chunks with stops."""
    forward = s_to >= s_from
    sign = 1.0 if forward else -1.0
    phases: list[Phase] = []
    t, pos, remaining = 0.0, s_from, abs(s_to - s_from)
    while remaining > 1e-6:
        chunk = min(float(rng.uniform(*CHUNK_M)), remaining)
        speed_ms = float(rng.uniform(*CRUISE_KMH)) / 3.6
        end_pos = s_to if chunk >= remaining else pos + sign * chunk
        phases.append(Phase(t, t + chunk / speed_ms, pos, end_pos, Activity.DRIVE, leg, forward))
        t, pos, remaining = t + chunk / speed_ms, end_pos, remaining - chunk
        if remaining > 1e-6 and rng.random() < stops.probability:
            pause = float(rng.uniform(*stops.seconds))
            phases.append(Phase(t, t + pause, pos, pos, stops.activity, leg, forward))
            t += pause
    return phases


def shift(phases: list[Phase], t0: float) -> list[Phase]:
    """Return the phases moved to start at sim time ``t0`` (they must start at 0)."""
    return [replace(p, start_s=p.start_s + t0, end_s=p.end_s + t0) for p in phases]


def without_stops(phases: list[Phase]) -> list[Phase]:
    """Return the driving phases only, re-timed back to back from the first phase's start."""
    t = phases[0].start_s if phases else 0.0
    kept: list[Phase] = []
    for p in phases:
        if p.activity is Activity.DRIVE:
            kept.append(replace(p, start_s=t, end_s=t + p.duration_s))
            t += p.duration_s
    return kept


def total_s(phases: list[Phase]) -> float:
    """Return the time span of phases that start at 0."""
    return phases[-1].end_s if phases else 0.0


def stand(t0: float, t1: float, s: float, activity: Activity, leg: Leg) -> Phase:
    """Return a standing phase at arc length ``s``."""
    return Phase(t0, t1, s, s, activity, leg)


class Plan:
    """A vehicle's phases in time order, looked up by sim time."""

    def __init__(self, phases: list[Phase]) -> None:
        self.phases = [p for p in phases if p.duration_s > 0]
        if not self.phases:
            raise ValueError("a plan needs at least one phase")
        self._starts = [p.start_s for p in self.phases]

    def at(self, t: float) -> Phase:
        """Return the phase in progress at sim time ``t`` (the last one once the plan is over)."""
        i = bisect.bisect_right(self._starts, t) - 1
        return self.phases[max(i, 0)]


def time_at_arc(phases: list[Phase], s: float) -> float:
    """Return when forward driving phases (starting at 0) first reach arc length ``s``."""
    for p in phases:
        if p.s0 <= s <= p.s1 and p.s1 > p.s0:
            return p.start_s + (s - p.s0) / (p.s1 - p.s0) * p.duration_s
    raise ValueError(f"arc {s:.0f} m is not on the leg")


def split(phases: list[Phase], t: float) -> tuple[list[Phase], list[Phase]]:
    """Return the phases before and after time ``t``, cutting the phase in progress in two."""
    before = [p for p in phases if p.end_s <= t]
    after = [p for p in phases if p.start_s >= t]
    for p in phases:
        if p.start_s < t < p.end_s:
            s = p.s_at(t)
            before.append(replace(p, end_s=t, s1=s))
            after.insert(0, replace(p, start_s=t, s0=s))
    return before, after


def insert_stand(phases: list[Phase], t: float, seconds: float, activity: Activity, leg: Leg) -> list[Phase]:
    """Return the phases with a standing phase at time ``t``; what follows is ``seconds`` later."""
    before, after = split(phases, t)
    s = before[-1].s1 if before else phases[0].s0
    moved = [replace(p, start_s=p.start_s + seconds, end_s=p.end_s + seconds) for p in after]
    return [*before, Phase(t, t + seconds, s, s, activity, leg), *moved]


def speed_up(phases: list[Phase], t0: float, t1: float, speed_ms: float) -> list[Phase]:
    """Return forward driving phases that run at ``speed_ms`` from ``t0`` to ``t1``, as drawn elsewhere."""
    before, _ = split(phases, t0)
    s0 = before[-1].s1 if before else phases[0].s0
    s1 = s0 + speed_ms * (t1 - t0)
    _, rest = split(phases, time_at_arc(phases, s1))
    fast = Phase(t0, t1, s0, s1, Activity.DRIVE, phases[0].leg)
    return [*before, fast, *shift_by(rest, t1 - rest[0].start_s if rest else 0.0)]


def shift_by(phases: list[Phase], dt: float) -> list[Phase]:
    """Return the phases moved ``dt`` seconds later."""
    return [replace(p, start_s=p.start_s + dt, end_s=p.end_s + dt) for p in phases]


def relabel(phases: list[Phase], leg: Leg) -> list[Phase]:
    """Return the phases as part of another leg (a truck that lost its load drives on empty)."""
    return [replace(p, leg=leg) for p in phases]
