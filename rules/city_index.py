"""The city prepared for the rules: lookups by device id and prepared geometry, built once per engine.

Pure: derived only from the City data; the engine holds one and every rule adapter reads from it.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property

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
from rules.geometry import Corridor, LocalFrame, PolygonIndex, within_m
from rules.strips import StripIndex
from rules.trip_delivery import SiteZone


class CityIndex:
    """Lookups and geometry of one city, computed once."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.params = city.meta.rules
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
        self._corridors: dict[str, Corridor] = {}

    def matter_code(self, rule: str) -> str:
        """Return the matter code of a rule."""
        return self.params.matter_codes[rule]

    def corridor(self, permit: Permit) -> Corridor:
        """Return the prepared corridor of a permit, built once."""
        corridor = self._corridors.get(permit.permit_id)
        if corridor is None:
            corridor = Corridor.from_route(permit.route, permit.corridor_m)
            self._corridors[permit.permit_id] = corridor
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
        on = [self.roads[i] for i in self._roads.ids_at(lon, lat)]
        applies = [r for r in on if kind is None or kind in r.vehicle_kinds]
        return min(applies, key=lambda r: (r.limit_kmh, r.segment_id), default=None)

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
        ids = self._sites.ids_at(lon, lat)
        if ids:
            return ids[0]
        radius = self.params.dirty_truck.exit_radius_m
        for site in self.city.sites:
            if not site.polygon and any(bool(within_m(lon, lat, e, radius)) for e in site.exits):
                return site.site_id
        return None

    def at_wash(self, lon: float, lat: float) -> bool:
        """Tell whether a point is at a wash station."""
        radius = self.params.dirty_truck.wash_radius_m
        return any(bool(within_m(lon, lat, w, radius)) for s in self.city.sites for w in s.wash_stations)

    def site_zone(self, permit: Permit, lon: float, lat: float, site: str | None) -> SiteZone:
        """Tell whether a truck is at one of its permit's disposal sites, origin sites, or neither.

        ``site`` is ``site_at(lon, lat)``, which the caller has already computed for this fix.
        """
        if set(self._disposal.ids_at(lon, lat)) & set(permit.disposal_sites):
            return "disposal"
        return "origin" if site is not None and site in permit.origin_sites else "none"

    def points_near(self, vehicle: Vehicle, lon: float, lat: float) -> list[str]:
        """Return the collection points this truck serves within the service radius."""
        radius = self.params.collection.radius_m
        return [p.point_id for p in self.city.collection_points
                if vehicle.vehicle_id in p.served_by and bool(within_m(lon, lat, (p.lon, p.lat), radius))]

    def permit_in_force(self, permit: Permit, ts_ms: int) -> bool:
        """Tell whether a permit allows running now (validity dates and hours)."""
        local = local_time(ts_ms, self.tz)
        day: date = local.date()
        if not permit.valid_from <= day <= permit.valid_to:
            return False
        return not permit.windows or any(w.contains(local.time()) for w in permit.windows)
