"""Duty cycles: when each truck loads, drives and unloads, so injections land where they must.

A muck truck shuttles origin -> disposal (loaded) -> origin (empty), with a loading dwell at the
origin and an unloading dwell at the disposal site. An injected window (open cover, deviation)
needs the truck loaded and moving, so the scheduler times the loading dwell before it: the truck
leaves the origin ``LEAD_S`` before the window and drives that leg without stopping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from devices.sim.motion import (
    COLLECTION,
    MAX_CRUISE_MS,
    TRAFFIC,
    Activity,
    Leg,
    Phase,
    drive_leg,
    shift,
    stand,
    total_s,
    without_stops,
)

LEAD_S = 20.0  # the truck is under way this long before a window opens
MARGIN_S = 30.0  # and still this far from the disposal site when it closes
DEVIATION_RAMP_S = 20.0  # a deviating truck takes this long to reach its offset, and to come back
FIRST_LOAD_S = (0.0, 240.0)  # staggered start: trucks are part-way through loading
LOAD_S = (180.0, 420.0)
UNLOAD_S = (120.0, 240.0)


class ScheduleError(ValueError):
    """An injection cannot be placed on the truck's duty cycle."""


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A span of sim time in which the truck must be loaded and driving."""

    start_s: float
    end_s: float
    label: str


def max_window_s(route_length_m: float) -> float:
    """Return the longest window a route can host (the truck driving flat out)."""
    return route_length_m / MAX_CRUISE_MS - LEAD_S - MARGIN_S


@dataclass(frozen=True, slots=True)
class _Cycle:
    """One round trip's seeded draws, relative to its own start."""

    load_s: float
    loaded: list[Phase]
    unload_s: float
    empty: list[Phase]


def _draw_cycle(rng: np.random.Generator, length_m: float, first: bool) -> _Cycle:
    load_s = float(rng.uniform(*(FIRST_LOAD_S if first else LOAD_S)))
    loaded = drive_leg(rng, 0.0, length_m, Leg.LOADED, TRAFFIC)
    unload_s = float(rng.uniform(*UNLOAD_S))
    return _Cycle(load_s, loaded, unload_s, drive_leg(rng, length_m, 0.0, Leg.EMPTY, TRAFFIC))


def _departure(arrive_s: float, cycle: _Cycle, window: Window | None) -> tuple[float, bool]:
    """Return (departure time, whether the loaded leg hosts the window) for one origin dwell."""
    natural = arrive_s + cycle.load_s
    if window is None:
        return natural, False
    target = window.start_s - LEAD_S
    if arrive_s > target:
        raise ScheduleError(f"{window.label}: the truck is not back at its origin in time to load")
    nonstop = total_s(without_stops(cycle.loaded))
    if natural >= target:
        departure = target
    elif natural + nonstop >= window.end_s + MARGIN_S:
        departure = natural
    elif natural + total_s(cycle.loaded) + cycle.unload_s + total_s(cycle.empty) <= target:
        return natural, False
    else:
        departure = target
    if departure + nonstop < window.end_s + MARGIN_S:
        raise ScheduleError(f"{window.label}: the route is too short to stay on it that long")
    return departure, True


def _serve(pending: deque[Window], departure: float, nonstop_s: float) -> None:
    """Drop the windows that the loaded leg leaving at ``departure`` covers."""
    while pending and (
        pending[0].start_s - LEAD_S >= departure and pending[0].end_s + MARGIN_S <= departure + nonstop_s
    ):
        pending.popleft()


def muck_plan(
    rng: np.random.Generator, length_m: float, horizon_s: float, windows: list[Window]
) -> list[Phase]:
    """Return a shuttle plan covering ``[0, horizon_s]`` with each window on a non-stop loaded leg."""
    pending = deque(sorted(w for w in windows if w.start_s < horizon_s))
    phases: list[Phase] = []
    t, first = 0.0, True
    while t <= horizon_s:
        cycle = _draw_cycle(rng, length_m, first)
        departure, hosts = _departure(t, cycle, pending[0] if pending else None)
        loaded = without_stops(cycle.loaded) if hosts else cycle.loaded
        if hosts:
            _serve(pending, departure, total_s(loaded))
        phases.append(stand(t, departure, 0.0, Activity.LOAD, Leg.LOADED))
        phases.extend(shift(loaded, departure))
        t = phases[-1].end_s
        phases.append(stand(t, t + cycle.unload_s, length_m, Activity.UNLOAD, Leg.LOADED))
        phases.extend(shift(cycle.empty, t + cycle.unload_s))
        t, first = phases[-1].end_s, False
    return phases


def round_plan(rng: np.random.Generator, length_m: float, horizon_s: float) -> list[Phase]:
    """Return a looping collection plan; arc length grows past the round's length (wrap it)."""
    s = float(rng.uniform(0.0, length_m))
    phases: list[Phase] = []
    t = 0.0
    while t <= horizon_s:
        phases.extend(shift(drive_leg(rng, s, s + length_m, Leg.ROUND, COLLECTION), t))
        t, s = phases[-1].end_s, s + length_m
    return phases
