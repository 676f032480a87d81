"""Where a muck truck drives: its site's yard (loading bay -> wash station -> gate), then its permit route.

The loading bay is ``BAY_M`` from the gate towards the middle of the site polygon: far enough
from the wash station that loading never counts as washing (wash radius 30 m + GPS noise), near
enough to the gate to stay inside the permit's 50 m corridor. Forbidden zones beside a route
are entered by pulling ``ZONE_OFFSET_M`` aside (``zone_stretch`` finds where that lands inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from devices.areas import exterior
from devices.inventory import City, ForbiddenZone, Permit, Site
from devices.sim.geo import FloatArray, LocalProjection, Path, depth
from devices.sim.schedule import TrackArcs

BAY_M = 36.0
ZONE_OFFSET_M = 34.0  # inside a 50 m corridor with room for GPS noise
ZONE_MIN_DEPTH_M = 12.0  # the noise-free offset point is this far inside the zone (noise <= 6 m)
ZONE_CLEAR_M = 10.0  # and the route itself this far outside it, noise included
STEP_M = 5.0


@dataclass(frozen=True, slots=True)
class Track:
    """A muck truck's track and the permit route it contains."""

    path: Path  # loading bay -> wash station -> gate -> route -> disposal site
    route: Path  # the permit route alone: offsets (deviations, zones) are drawn on it
    wash_m: float  # arc of the wash station on ``path``
    gate_m: float  # arc of the gate (the route's first point) on ``path``

    @property
    def arcs(self) -> TrackArcs:
        """The arc lengths the scheduler needs."""
        return TrackArcs(self.wash_m, self.path.length)

    def route_arc(self, s: float) -> float:
        """Return the route arc length of a track arc length."""
        return s - self.gate_m


def origin_site(city: City, permit: Permit) -> Site | None:
    """Return the permit's first origin site, if it names one the city knows."""
    sites = {s.site_id: s for s in city.sites}
    return next((sites[i] for i in permit.origin_sites if i in sites), None)


def yard_points(site: Site | None, gate: FloatArray, proj: LocalProjection) -> tuple[FloatArray | None, ...]:
    """Return (loading bay, wash station nearest the gate), None for what the site lacks."""
    if site is None:
        return None, None
    bay = wash = None
    if site.polygon:
        direction = proj.to_xy(exterior(site.polygon)).mean(axis=0) - gate
        bay = gate + BAY_M * direction / max(float(np.hypot(*direction)), 1e-9)
    if site.wash_stations:
        washes = proj.to_xy(site.wash_stations)
        wash = washes[int(np.argmin(np.hypot(*(washes - gate).T)))]
    return bay, wash


def build_track(city: City, permit: Permit, proj: LocalProjection) -> Track:
    """Build the track of the truck holding ``permit`` (it washes only if its site has a bay and a wash)."""
    route = Path.from_lonlat(permit.route, proj)
    bay, wash = yard_points(origin_site(city, permit), route.xy[0], proj)
    yard = [p for p in (bay, wash) if p is not None]
    if not yard:
        return Track(route, route, 0.0, 0.0)
    path = Path(np.vstack([*yard, route.xy]))
    wash_m = float(path.cum[1]) if bay is not None and wash is not None else 0.0
    return Track(path, route, wash_m, float(path.cum[len(yard)]))


@dataclass(frozen=True, slots=True)
class ZoneStretch:
    """Route arcs along which a truck pulled ``ZONE_OFFSET_M`` aside (``side``) is inside a zone."""

    side: float  # +1 left of the direction of travel, -1 right
    start_m: float
    end_m: float


def zone_stretch(route: Path, zone: ForbiddenZone, proj: LocalProjection) -> ZoneStretch | None:
    """Return the longest stretch of the route beside the zone, or None if the route runs into it."""
    ring = proj.to_xy(exterior(zone.polygon))
    arcs = np.arange(0.0, route.length, STEP_M)
    centre = np.array([route.point_at(s) for s in arcs])
    if depth(ring, centre).max() > -ZONE_CLEAR_M:
        return None
    best: ZoneStretch | None = None
    for side in (1.0, -1.0):
        line = route.offset_vertices(side * ZONE_OFFSET_M)
        aside = np.array([route.offset_point(s, line) for s in arcs])
        run = _longest_run(depth(ring, aside) >= ZONE_MIN_DEPTH_M)
        if run is not None and (best is None or arcs[run[1]] - arcs[run[0]] > best.end_m - best.start_m):
            best = ZoneStretch(side, float(arcs[run[0]]), float(arcs[run[1]]))
    return best


def _longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """Return (first, last) index of the longest run of True, or None."""
    best, start = None, None
    for i, on in enumerate([*mask.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if best is None or i - 1 - start > best[1] - best[0]:
                best = (start, i - 1)
            start = None
    return best
