"""The city prepared for the rules: lookups by device id and prepared geometry, built once per engine.

Pure: derived only from the City data; the engine holds one and every rule call reads from it.
"""

from __future__ import annotations

from functools import cached_property

from devices.inventory import City, Facility, GridCell, Permit, Site, Vehicle
from rules.geometry import Corridor


class CityIndex:
    """Lookups and geometry of one city, computed once."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.params = city.meta.rules
        self.tz = city.meta.timezone
        self.vehicles: dict[str, Vehicle] = {v.terminal_id: v for v in city.vehicles}
        self.permits: dict[str, Permit] = {
            v.terminal_id: p for v in city.vehicles if (p := city.permit_by_vehicle.get(v.vehicle_id))
        }
        self.facilities: dict[str, Facility] = {f.device_id: f for f in city.facilities}
        self.sites: dict[str, Site] = {s.device_id: s for s in city.sites}
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

    def cell_at(self, lon: float, lat: float) -> GridCell | None:
        """Return the grid cell containing a point, if any."""
        for cell in self.city.grid:
            if _contains(cell.polygon, lon, lat):
                return cell
        return None


def _contains(ring: list[tuple[float, float]], x: float, y: float) -> bool:
    """Even-odd rule point-in-polygon (lon/lat treated as planar: fine at cell scale)."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
