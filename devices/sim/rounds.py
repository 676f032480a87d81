"""Garbage rounds: a truck loops its closed round and stops at each collection point it serves.

Arc lengths grow past the round's length (the caller wraps them). The truck stops nowhere else,
so a point it skips (an injected ``skip_collection``) sees no dwell at all: passing through the
40 m radius at 25-37 km/h takes under 12 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from devices.sim.motion import NO_STOPS, Activity, Leg, Phase, drive_leg, shift, stand

DWELL_S = (50.0, 90.0)  # at a collection point: over the 30 s a service needs, whatever the report phase


@dataclass(frozen=True, slots=True)
class Stop:
    """A collection point on the round: its id and arc length."""

    point_id: str
    arc_m: float


@dataclass(frozen=True, slots=True)
class Skip:
    """A point the truck drives past from ``start_s`` to ``end_s``."""

    point_id: str
    start_s: float
    end_s: float


def _next_stop(stops: list[Stop], length_m: float, s: float) -> tuple[Stop, float] | None:
    """Return the next stop after (unwrapped) arc ``s`` and its unwrapped arc length."""
    if not stops:
        return None
    lap = math.floor(s / length_m)
    candidates = [(st, (lap + k) * length_m + st.arc_m) for k in (0, 1, 2) for st in stops]
    return min(((st, a) for st, a in candidates if a > s + 1e-6), key=lambda c: c[1])


def _skipped(skips: list[Skip], point_id: str, t: float) -> bool:
    return any(k.point_id == point_id and k.start_s <= t <= k.end_s for k in skips)


def round_plan(
    rng: np.random.Generator, length_m: float, horizon_s: float, stops: list[Stop], skips: list[Skip]
) -> list[Phase]:
    """Return a looping collection plan from a seeded place on the round, dwelling at each stop."""
    s = float(rng.uniform(0.0, length_m))
    phases: list[Phase] = []
    t = 0.0
    while t <= horizon_s:
        nxt = _next_stop(stops, length_m, s)
        target = s + length_m if nxt is None else nxt[1]
        phases.extend(shift(drive_leg(rng, s, target, Leg.ROUND, NO_STOPS), t))
        t, s = phases[-1].end_s, target
        if nxt is not None and not _skipped(skips, nxt[0].point_id, t):
            dwell = float(rng.uniform(*DWELL_S))
            phases.append(stand(t, t + dwell, s, Activity.COLLECT, Leg.ROUND))
            t += dwell
    return phases
