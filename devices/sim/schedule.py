"""Muck-truck duty cycles: when each truck loads, washes, drives and unloads, so injections land where they must.

A muck truck shuttles between its site's loading bay (track arc 0) and the disposal site (the end
of its track): load, drive to the wash station and wash, drive the route loaded, unload, drive
back empty. A cycle starts only if it ends inside the permit's hours (``hours``: spans of sim
time); otherwise the truck waits (``PARK``) at the bay. An injected window (open cover,
deviation, a stop, ...) needs the truck loaded on a non-stop leg, so the scheduler times the
departure from the wash station for it: ``LEAD_S`` before the window, or so that the truck
reaches a given arc length (``anchor_m``) at a given time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from devices.sim.clock import ALWAYS, Span, covers
from devices.sim.motion import (
    MAX_CRUISE_MS,
    TRAFFIC,
    Activity,
    Leg,
    Phase,
    drive_leg,
    insert_stand,
    relabel,
    shift,
    speed_up,
    split,
    stand,
    time_at_arc,
    total_s,
    without_stops,
)

LEAD_S = 20.0  # the truck is under way this long before a window opens
MARGIN_S = 30.0  # and still this far from the disposal site when it closes
DEVIATION_RAMP_S = 20.0  # a deviating truck takes this long to reach its offset, and to come back
FIRST_LOAD_S = (0.0, 240.0)  # staggered start: trucks are part-way through loading
LOAD_S = (180.0, 420.0)
WASH_S = (75.0, 110.0)  # over the 60 s a wash needs, with a report or two to spare
UNLOAD_S = (120.0, 240.0)
YARD_MS = 10.0 / 3.6  # driving inside the site
HOURS_MARGIN_S = 120.0  # a trip ends at least this long before the permit's hours do
AWAY_MARGIN_S = 60.0  # an away window ends this long before the truck is back in its site
SHED_PARK_AHEAD_M = 400.0  # a truck that shed its load drives this far on and parks
SHED_DRIVE_MS = 30.0 / 3.6


class ScheduleError(ValueError):
    """An injection cannot be placed on the truck's duty cycle."""


class Episode(StrEnum):
    """What the truck does during an injected window on its loaded leg."""

    DRIVE = "drive"  # drive non-stop (cover, deviation, zone, jump, hours, wash skipped)
    FAST = "fast"  # drive at ``speed_kmh``
    STOP = "stop"  # stand loaded
    DUMP = "dump"  # stand and tip the load, body lifted; drive on empty
    SHED = "shed"  # stand while the load vanishes; drive on and park for good
    AWAY = "away"  # be away from the site the whole window (a silent terminal must not hide a wash)


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A span of sim time on a loaded leg, and what the truck does in it."""

    start_s: float
    end_s: float
    label: str
    episode: Episode = Episode.DRIVE
    anchor_m: float | None = None  # track arc reached at anchor_s (None: LEAD_S after departure)
    anchor_s: float | None = None  # None: start_s
    speed_kmh: float = 0.0
    wash: bool = True
    any_hours: bool = False  # the trip may run outside the permit's hours

    @property
    def at_s(self) -> float:
        """When the truck must be at its anchor."""
        return self.start_s if self.anchor_s is None else self.anchor_s

    @property
    def flexible(self) -> bool:
        """A plain non-stop window: it may share a leg, and the truck may leave earlier for it."""
        plain = self.episode is Episode.DRIVE and self.anchor_m is None
        return plain and self.wash and not self.any_hours


def max_window_s(route_length_m: float) -> float:
    """Return the longest window a route can host (the truck driving flat out)."""
    return route_length_m / MAX_CRUISE_MS - LEAD_S - MARGIN_S


@dataclass(frozen=True, slots=True)
class TrackArcs:
    """Arc lengths of a muck truck's track: loading bay at 0, wash station, end at the disposal site."""

    wash_m: float
    length_m: float

    @property
    def yard_s(self) -> float:
        """Time to drive from the loading bay to the wash station."""
        return self.wash_m / YARD_MS


@dataclass(frozen=True, slots=True)
class _Cycle:
    """One round trip's seeded draws, relative to its own start."""

    load_s: float
    wash_s: float
    loaded: list[Phase]  # wash station -> disposal site, from t = 0
    unload_s: float
    empty: list[Phase]  # disposal site -> loading bay, from t = 0
    yard_s: float

    def prep_s(self, window: Window | None) -> float:
        """Time from the end of loading to the departure from the wash station."""
        return self.yard_s + (self.wash_s if window is None or window.wash else 0.0)

    @property
    def trip_s(self) -> float:
        """Time from the departure to the return to the loading bay."""
        return total_s(self.loaded) + self.unload_s + total_s(self.empty)


def _draw_cycle(rng: np.random.Generator, arcs: TrackArcs, first: bool) -> _Cycle:
    load_s = float(rng.uniform(*(FIRST_LOAD_S if first else LOAD_S)))
    wash_s = float(rng.uniform(*WASH_S)) if arcs.wash_m > 0 else 0.0
    loaded = drive_leg(rng, arcs.wash_m, arcs.length_m, Leg.LOADED, TRAFFIC)
    unload_s = float(rng.uniform(*UNLOAD_S))
    empty = drive_leg(rng, arcs.length_m, 0.0, Leg.EMPTY, TRAFFIC)
    return _Cycle(load_s, wash_s, loaded, unload_s, empty, arcs.yard_s)


def _fit(hours: list[Span], t: float, need_s: float) -> float | None:
    """Return the earliest start >= t of a stretch of ``need_s`` inside the hours, if any."""
    for a, b in hours:
        start = max(a, t)
        if start + need_s + HOURS_MARGIN_S <= b:
            return start
    return None


def _lead_s(cycle: _Cycle, window: Window) -> float:
    """Return how long after its departure the truck must be at the window's anchor."""
    if window.anchor_m is None:
        return LEAD_S + (window.at_s - window.start_s)
    try:
        return time_at_arc(without_stops(cycle.loaded), window.anchor_m)
    except ValueError as exc:
        raise ScheduleError(f"{window.label}: {exc}") from exc


def _departure(t: float, cycle: _Cycle, window: Window | None, hours: list[Span]) -> tuple[float | None, bool]:
    """Return (departure from the wash station, whether the loaded leg hosts the window)."""
    start = _fit(hours, t, cycle.load_s + cycle.prep_s(None) + cycle.trip_s)
    natural = None if start is None else start + cycle.load_s + cycle.prep_s(None)
    if window is None:
        return natural, False
    target = window.at_s - _lead_s(cycle, window)
    if t + cycle.prep_s(window) > target:
        raise ScheduleError(f"{window.label}: the truck is not back at its origin in time to load")
    if natural is None or natural >= target:
        return target, True
    nonstop = total_s(without_stops(cycle.loaded))
    if window.flexible and natural + nonstop >= window.end_s + MARGIN_S:
        return natural, True
    if natural + cycle.trip_s + cycle.yard_s + WASH_S[1] <= target:  # room for the next cycle's wash
        return natural, False
    return target, True


def _check_hosting(window: Window, cycle: _Cycle, departure: float, leg: list[Phase], hours: list[Span]) -> None:
    """Refuse a window the route cannot hold, or a trip for it outside the permit's hours."""
    if window.episode is Episode.AWAY:
        back = departure + total_s(leg) + cycle.unload_s + total_s(cycle.empty) - AWAY_MARGIN_S
        if back < window.end_s:
            raise ScheduleError(f"{window.label}: a trip is too short to stay away from the site that long")
    elif leg[-1].end_s + departure < window.end_s + MARGIN_S:
        raise ScheduleError(f"{window.label}: the route is too short to stay on it that long")
    trip = (departure - cycle.prep_s(window), departure + cycle.trip_s + HOURS_MARGIN_S)
    if not window.any_hours and not covers(hours, *trip):
        raise ScheduleError(f"{window.label}: the trip for it would run outside the permit's hours")


def _hosted_leg(cycle: _Cycle, window: Window, departure: float) -> list[Phase]:
    """Return the non-stop loaded leg (from t = 0) with the window's episode on it."""
    leg = without_stops(cycle.loaded)
    t0, t1 = window.start_s - departure, window.end_s - departure
    if window.episode is Episode.FAST:
        try:
            return speed_up(leg, t0, t1, window.speed_kmh / 3.6)
        except ValueError as exc:
            raise ScheduleError(f"{window.label}: the route is too short to drive that fast that long") from exc
    if window.episode in (Episode.STOP, Episode.DUMP):
        activity = Activity.STOP if window.episode is Episode.STOP else Activity.DUMP
        leg = insert_stand(leg, t0, t1 - t0, activity, Leg.LOADED)
        if window.episode is Episode.DUMP:
            before, after = split(leg, t1)
            leg = before + relabel(after, Leg.EMPTY)
    if window.episode is Episode.SHED:
        before, _ = split(leg, t0)
        s = before[-1].s1 if before else leg[0].s0
        park = s + SHED_PARK_AHEAD_M
        drive = Phase(t1, t1 + SHED_PARK_AHEAD_M / SHED_DRIVE_MS, s, park, Activity.DRIVE, Leg.EMPTY)
        leg = [*before, stand(t0, t1, s, Activity.SHED, Leg.LOADED), drive]
    return leg


def _serve(pending: deque[Window], departure: float, nonstop_s: float) -> None:
    """Drop the hosted window, and the plain ones the same non-stop leg covers."""
    first = pending.popleft()
    while (
        first.flexible
        and pending
        and pending[0].flexible
        and (pending[0].start_s - LEAD_S >= departure and pending[0].end_s + MARGIN_S <= departure + nonstop_s)
    ):
        pending.popleft()


@dataclass
class _Builder:
    """Appends a truck's phases in time order."""

    arcs: TrackArcs
    hours: list[Span]
    phases: list[Phase]
    t: float = 0.0

    def add(self, phases: list[Phase]) -> None:
        """Append phases and move the clock to their end."""
        self.phases.extend(phases)
        if phases:
            self.t = phases[-1].end_s

    def stand(self, until: float, s: float, activity: Activity, leg: Leg) -> None:
        """Stand still until ``until``."""
        if until > self.t:
            self.add([stand(self.t, until, s, activity, leg)])

    def origin(self, cycle: _Cycle, window: Window | None, departure: float) -> None:
        """Wait, load, drive to the wash station and wash, leaving it at ``departure``."""
        prep = cycle.prep_s(window)
        self.stand(departure - prep - cycle.load_s, 0.0, Activity.PARK, Leg.EMPTY)
        self.stand(departure - prep, 0.0, Activity.LOAD, Leg.LOADED)
        yard_end = self.t + cycle.yard_s
        self.add([Phase(self.t, yard_end, 0.0, self.arcs.wash_m, Activity.DRIVE, Leg.LOADED)])
        self.stand(departure, self.arcs.wash_m, Activity.WASH, Leg.LOADED)

    def disposal(self, cycle: _Cycle, dumped: bool, horizon_s: float) -> None:
        """Unload (or just turn, if the load was dumped on the way), wait for the hours, drive back."""
        end = self.arcs.length_m
        if dumped:
            self.stand(self.t + cycle.unload_s, end, Activity.STOP, Leg.EMPTY)
        else:
            self.stand(self.t + cycle.unload_s, end, Activity.UNLOAD, Leg.LOADED)
        back = _fit(self.hours, self.t, total_s(cycle.empty))
        self.stand(max(horizon_s, self.t) + 1.0 if back is None else back, end, Activity.PARK, Leg.EMPTY)
        if back is not None:
            self.add(shift(cycle.empty, self.t))

    def trip(self, cycle: _Cycle, window: Window | None, departure: float, pending: deque[Window],
             horizon_s: float) -> bool:  # fmt: skip
        """Add one round trip (hosting ``window`` if given); False when the truck parks for good."""
        self.origin(cycle, window, departure)
        leg = cycle.loaded
        if window is not None:
            leg = _hosted_leg(cycle, window, departure)
            _check_hosting(window, cycle, departure, leg, self.hours)
            _serve(pending, departure, total_s(leg))
        self.add(shift(leg, departure))
        if window is not None and window.episode is Episode.SHED:
            self.stand(max(horizon_s, self.t) + 1.0, leg[-1].s1, Activity.PARK, Leg.EMPTY)
            return False
        self.disposal(cycle, window is not None and window.episode is Episode.DUMP, horizon_s)
        return True


def muck_plan(
    rng: np.random.Generator, arcs: TrackArcs, horizon_s: float, windows: list[Window],
    hours: list[Span] | None = None,
) -> list[Phase]:  # fmt: skip
    """Return a shuttle plan covering ``[0, horizon_s]`` with each window on a non-stop loaded leg."""
    hours = ALWAYS if hours is None else hours
    pending = deque(sorted(w for w in windows if w.start_s < horizon_s))
    b, first = _Builder(arcs, hours, []), True
    while b.t <= horizon_s:
        cycle = _draw_cycle(rng, arcs, first)
        window = pending[0] if pending else None
        departure, hosts = _departure(b.t, cycle, window, hours)
        if departure is None:
            b.stand(horizon_s + 1.0, 0.0, Activity.PARK, Leg.EMPTY)
            break
        if not b.trip(cycle, window if hosts else None, departure, pending, horizon_s):
            break
        first = False
    return b.phases
