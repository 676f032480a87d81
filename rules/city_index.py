"""The city prepared for the rules: lookups by device id and prepared geometry, built once per engine.

Pure: derived only from the City data; the engine holds one and every rule adapter reads from it.
The geometry of truck positions is computed a batch at a time (``locate``): every position of a
batch against every site, gate, wash station, forbidden zone, disposal site, road segment,
collection point and permit corridor with numpy, through the grid-bucketed spatial indexes, so
per-fix Python work is a dict lookup. The single-point lookups are the same code on a batch of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from devices.contracts import VehiclePosition
from devices.inventory import (
    City,
    CollectionPoint,
    Facility,
    ForbiddenZone,
    GridCell,
    Permit,
    RoadSegment,
    Site,
    Vehicle,
)
from devices.schedules import local_time
from rules.catalog import RuleSpec, judged
from rules.geometry import (
    BoolArray,
    Corridor,
    FloatArray,
    LocalFrame,
    PolygonIndex,
    haversine_m,
)
from rules.illegal_dumping import SiteZone
from rules.strips import StripIndex

if TYPE_CHECKING:
    from rules.params import RuleParamsBase


@dataclass(frozen=True, slots=True)
class Place:
    """Where one truck position is, as the vehicle rules need it (computed for a batch at once)."""

    site: str | None  # the construction site it is in (polygon, or at a gate of a polygon-less site)
    at_wash: bool  # at a wash station
    zones: tuple[str, ...]  # forbidden zones containing it
    disposal: tuple[str, ...]  # disposal sites containing it
    road: RoadSegment | None  # the applicable road segment with the lowest limit, if any
    points: tuple[str, ...]  # collection points within the service radius that this truck serves
    corridor_m: float | None  # distance to its permit's route, if it has a permit


class CityIndex:
    """Lookups and geometry of one city, computed once."""

    def __init__(self, city: City) -> None:
        from rules.params import params_of  # built from the catalog, which imports this module

        self.city = city
        self.params: RuleParamsBase = params_of(city)
        self.tz = city.meta.timezone
        self.frame = LocalFrame(*city.meta.center)
        self.vehicles: dict[str, Vehicle] = {v.terminal_id: v for v in city.vehicles}
        self.permits: dict[str, Permit] = {
            v.terminal_id: p for v in city.vehicles if (p := city.permit_by_vehicle.get(v.vehicle_id))
        }
        self.facilities: dict[str, Facility] = {f.device_id: f for f in city.facilities}
        self.sites: dict[str, Site] = {s.device_id: s for s in city.sites}
        self.sites_by_id: dict[str, Site] = {s.site_id: s for s in city.sites}
        self.zones: dict[str, ForbiddenZone] = {z.zone_id: z for z in city.zones}
        self.points: dict[str, CollectionPoint] = {p.point_id: p for p in city.collection_points}
        self.cells: dict[str, GridCell] = {c.code: c for c in city.grid}
        self.roads: dict[str, RoadSegment] = {r.segment_id: r for r in city.roads}
        self.suspended: frozenset[str] = frozenset()  # companies suspended now (the ticket service decides)
        self._corridors: dict[str, Corridor] = {}
        self._corridor_of_route: dict[tuple[object, float], Corridor] = {}  # permits on one route share it
        self._cameras = {c.device_id: c for c in city.cameras}
        self._setups: dict[str, tuple[str, Any]] = {}
        self.position_rules = judged(VehiclePosition)  # the catalog's position rules with a judge

    def matter_code(self, rule: str) -> str:
        """Return the matter code of a rule."""
        return self.params.matter_codes[rule]

    def rule_setup(self, spec: RuleSpec) -> tuple[str, Any]:
        """Return a catalog rule's matter code ("" if it opens no case) and its parameter section, found once."""
        found = self._setups.get(spec.name)
        if found is None:
            matter = self.matter_code(spec.name) if spec.matter is not None else ""
            found = matter, getattr(self.params, spec.section) if spec.section is not None else None
            self._setups[spec.name] = found
        return found

    def position_of(self, device_id: str) -> tuple[float, float]:
        """Return where a fixed device or camera stands; NaN for a truck (its fixes say where it is)."""
        fixed = (
            self.facilities.get(device_id)
            or self.sites.get(device_id)
            or self.city.background_by_device.get(device_id)
            or self._cameras.get(device_id)
        )
        return (fixed.lon, fixed.lat) if fixed is not None else (math.nan, math.nan)

    def corridor(self, permit: Permit) -> Corridor:
        """Return the prepared corridor of a permit, built once and shared by permits on the same route."""
        corridor = self._corridors.get(permit.permit_id)
        if corridor is None:
            shape = (tuple(map(tuple, permit.route)), permit.corridor_m)
            corridor = self._corridor_of_route.get(shape) or Corridor.from_route(permit.route, permit.corridor_m)
            self._corridors[permit.permit_id] = self._corridor_of_route[shape] = corridor
        return corridor

    def owner_of(self, device_id: str) -> str:
        """Return who answers for a device: transport company, facility operator or site company."""
        if device_id in self.vehicles:
            return self.vehicles[device_id].company
        if device_id in self.facilities:
            return self.facilities[device_id].operator
        if device_id in self.sites:
            return self.sites[device_id].company
        return ""

    @cached_property
    def plates(self) -> dict[str, str]:
        """Return terminal id -> plate."""
        return {t: v.plate for t, v in self.vehicles.items()}

    @cached_property
    def _grid(self) -> PolygonIndex:
        return PolygonIndex.build([(c.code, c.polygon) for c in self.city.grid], frame=self.frame)

    @cached_property
    def _zones(self) -> PolygonIndex:
        return PolygonIndex.build([(z.zone_id, z.polygon) for z in self.city.zones], frame=self.frame)

    @cached_property
    def _sites(self) -> PolygonIndex:
        return PolygonIndex.build([(s.site_id, s.polygon) for s in self.city.sites if s.polygon], frame=self.frame)

    @cached_property
    def _disposal(self) -> PolygonIndex:
        return PolygonIndex.build([(d.site_id, d.polygon) for d in self.city.disposal_sites], frame=self.frame)

    @cached_property
    def _roads(self) -> StripIndex:
        return StripIndex.build([(r.segment_id, r.polyline, r.half_width_m) for r in self.city.roads], frame=self.frame)

    def road_at(self, lon: float, lat: float, kind: str | None) -> RoadSegment | None:
        """Return the segment with the lowest limit containing a point for this vehicle kind (None: any kind)."""
        if not self.roads:
            return None
        return self._lowest_limit(self._roads.ids_at(lon, lat), kind)

    def speed_limit_at(self, lon: float, lat: float, kind: str | None) -> float | None:
        """Return the lowest speed limit of the segments containing a point, else None (urban default)."""
        road = self.road_at(lon, lat, kind)
        return road.limit_kmh if road else None

    def cell_at(self, lon: float, lat: float) -> GridCell | None:
        """Return the grid cell containing a point, if any (the first, on a shared edge)."""
        codes = self._grid.ids_at(lon, lat)
        return self.cells[codes[0]] if codes else None

    def zones_at(self, lon: float, lat: float) -> list[str]:
        """Return the forbidden zones containing a point."""
        return self._zones.ids_at(lon, lat)

    def site_at(self, lon: float, lat: float) -> str | None:
        """Return the construction site a point is in (its polygon, or near a gate of a polygon-less site)."""
        return self._sites_at(np.array([lon]), np.array([lat]))[0]

    def at_wash(self, lon: float, lat: float) -> bool:
        """Tell whether a point is at a wash station."""
        return bool(self._at_wash(np.array([lon]), np.array([lat]))[0])

    def site_zone(self, permit: Permit, place: Place) -> SiteZone:
        """Tell whether a truck is at one of its permit's disposal sites, origin sites, or neither."""
        if set(place.disposal) & set(permit.disposal_sites):
            return "disposal"
        return "origin" if place.site is not None and place.site in permit.origin_sites else "none"

    def points_near(self, vehicle: Vehicle, lon: float, lat: float) -> list[str]:
        """Return the collection points this truck serves within the service radius."""
        (near,) = self._points_within(np.array([lon]), np.array([lat]))
        return self._served_by(vehicle, near)

    def locate(self, positions: Sequence[VehiclePosition]) -> list[Place]:
        """Return where each position of a batch is, every lookup vectorised over the batch."""
        if not positions:
            return []
        lon = np.fromiter((p.lon for p in positions), np.float64, len(positions))
        lat = np.fromiter((p.lat for p in positions), np.float64, len(positions))
        sites, washes = self._sites_at(lon, lat), self._at_wash(lon, lat)
        zones, disposal = self._zones.containing(lon, lat), self._disposal.containing(lon, lat)
        roads = self._roads.containing(lon, lat) if self.roads else [[] for _ in positions]
        points = self._points_within(lon, lat)
        corridor = self._corridor_distances(positions, lon, lat)
        places = []
        for i, pos in enumerate(positions):
            vehicle = self.vehicles.get(pos.device_id)
            kind = vehicle.kind if vehicle else None
            served = tuple(self._served_by(vehicle, points[i])) if vehicle else ()
            places.append(
                Place(
                    sites[i],
                    bool(washes[i]),
                    tuple(zones[i]),
                    tuple(disposal[i]),
                    self._lowest_limit(roads[i], kind),
                    served,
                    corridor.get(i),
                )
            )
        return places

    def _sites_at(self, lon: FloatArray, lat: FloatArray) -> list[str | None]:
        """Return each point's site: the first polygon containing it, else the first gate within reach."""
        inside = self._sites.containing(lon, lat)
        gate_ids, gates = self._gates
        near = _within(lon, lat, gates, self.params.dirty_truck.exit_radius_m)
        first_gate = np.where(near.any(axis=1), near.argmax(axis=1), -1) if near.size else np.full(lon.size, -1)
        return [ids[0] if ids else (gate_ids[g] if g >= 0 else None) for ids, g in zip(inside, first_gate, strict=True)]

    def _at_wash(self, lon: FloatArray, lat: FloatArray) -> BoolArray:
        """Tell which points are at a wash station (any site's)."""
        return np.asarray(_within(lon, lat, self._washes, self.params.dirty_truck.wash_radius_m).any(axis=1))

    def _points_within(self, lon: FloatArray, lat: FloatArray) -> list[list[str]]:
        """Return, per point, the collection points within the service radius (in inventory order)."""
        near = _within(lon, lat, self._point_xy, self.params.collection.radius_m)
        ids = list(self.points)
        return [[ids[j] for j in np.flatnonzero(row)] for row in near]

    def _served_by(self, vehicle: Vehicle, point_ids: list[str]) -> list[str]:
        """Keep the collection points this truck serves."""
        return [p for p in point_ids if vehicle.vehicle_id in self.points[p].served_by]

    @cached_property
    def _washes(self) -> FloatArray:
        """Return the (lon, lat) of every wash station."""
        return np.array([w for s in self.city.sites for w in s.wash_stations], dtype=np.float64).reshape(-1, 2)

    @cached_property
    def _point_xy(self) -> FloatArray:
        """Return the (lon, lat) of every collection point, in the order of ``points``."""
        return np.array([(p.lon, p.lat) for p in self.points.values()], dtype=np.float64).reshape(-1, 2)

    def _corridor_distances(
        self, positions: Sequence[VehiclePosition], lon: FloatArray, lat: FloatArray
    ) -> dict[int, float]:
        """Return the distance of each permitted truck's position to its route, one numpy call per route
        (the trucks of one project share their permits' route)."""
        by_route: dict[int, tuple[Corridor, list[int]]] = {}
        for i, pos in enumerate(positions):
            if (permit := self.permits.get(pos.device_id)) is not None:
                corridor = self.corridor(permit)
                by_route.setdefault(id(corridor), (corridor, []))[1].append(i)
        out: dict[int, float] = {}
        for corridor, rows in by_route.values():
            distances = corridor.distance_m(lon[rows], lat[rows])
            out.update(zip(rows, distances.tolist(), strict=True))
        return out

    def _lowest_limit(self, segment_ids: list[str], kind: str | None) -> RoadSegment | None:
        """Return the applicable segment (for this vehicle kind; None: any) with the lowest limit."""
        applies = [self.roads[i] for i in segment_ids if kind is None or kind in self.roads[i].vehicle_kinds]
        return min(applies, key=lambda r: (r.limit_kmh, r.segment_id), default=None)

    @cached_property
    def _gates(self) -> tuple[list[str], FloatArray]:
        """Return the site id and (lon, lat) of every gate of a polygon-less site, in inventory order."""
        gates = [(s.site_id, e) for s in self.city.sites if not s.polygon for e in s.exits]
        return [g[0] for g in gates], np.array([g[1] for g in gates], dtype=np.float64).reshape(-1, 2)

    @cached_property
    def permits_by_id(self) -> dict[str, Permit]:
        """Return permit id -> permit."""
        return {p.permit_id: p for p in self.permits.values()}

    def permit_in_force(self, permit: Permit, ts_ms: int) -> bool:
        """Tell whether a permit allows running now (not revoked, validity dates and hours)."""
        if permit.revoked_by(ts_ms):
            return False
        local = local_time(ts_ms, self.tz)
        day: date = local.date()
        if not permit.valid_from <= day <= permit.valid_to:
            return False
        return not permit.windows or any(w.contains(local.time()) for w in permit.windows)


def _within(lon: FloatArray, lat: FloatArray, centres: FloatArray, radius_m: float) -> BoolArray:
    """Return a (points, centres) matrix: which points lie within radius_m of which centres."""
    if centres.size == 0:
        return np.zeros((lon.size, 0), dtype=bool)
    return np.asarray(haversine_m(lon[:, None], lat[:, None], centres[None, :, 0], centres[None, :, 1]) <= radius_m)
