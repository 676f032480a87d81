"""Routing: which grid cell, responsible unit and owner a case belongs to.

The rules already stamp the grid cell, its unit and the owner on each alert (``rules.city_index``);
tickets take them as they are (``stamped``) and look the grid up again only for an alert without
them (an older alert, or a case opened by hand). The alert's evidence wins when it names them (``grid_cell``, ``unit``, ``owner`` / ``company``,
``owner_kind``, ``plate``, ``place``), so the grid catalog plugs in by putting them there (or by
passing another resolver). Otherwise the city inventory names the vehicle's company and plate,
the facility or the site, and the tickets config names the unit by matter code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from devices.inventory import City
from rules.alerts import Alert
from rules.geometry import point_in_shape
from tickets.config import TicketConfig


@dataclass(frozen=True, slots=True)
class Routing:
    """Where a case belongs and whom it concerns."""

    unit: str | None = None
    grid_cell: str | None = None
    owner: str | None = None
    owner_kind: str | None = None
    plate: str | None = None
    place: str | None = None


Resolver = Callable[[str, str, float, float, Mapping[str, Any]], Routing]  # subject, matter, lon, lat, evidence


def stamped(alert: Alert) -> dict[str, str]:
    """Return the routing fields the rules stamped on an alert (grid cell, its unit, the owner), as evidence keys."""
    fields = {"grid_cell": alert.grid_code, "unit": alert.unit, "owner": alert.owner}
    return {key: value for key, value in fields.items() if value}


def from_evidence(evidence: Mapping[str, Any]) -> dict[str, str]:
    """Return the routing fields an alert's evidence names."""
    keys = {
        "unit": "unit",
        "grid_cell": "grid_cell",
        "grid": "grid_cell",
        "owner": "owner",
        "company": "owner",
        "owner_kind": "owner_kind",
        "plate": "plate",
        "place": "place",
    }
    return {field: str(evidence[k]) for k, field in keys.items() if evidence.get(k) not in (None, "")}


class CityResolver:
    """Routes by the alert's evidence, then the city inventory, then the config's unit table."""

    def __init__(self, config: TicketConfig, city: City | None = None) -> None:
        self.config = config
        self.city = city

    def __call__(self, subject: str, matter_code: str, lon: float, lat: float, evidence: Mapping[str, Any]) -> Routing:
        """Return the routing of a case about subject at lon / lat."""
        named = from_evidence(evidence)
        grid = {} if {"grid_cell", "unit"} <= named.keys() else self._from_grid(lon, lat)  # the rules placed it
        routed = replace(replace(self._from_city(subject), **grid), **named)
        if routed.unit is None:
            routed = replace(routed, unit=self.config.units.for_matter(matter_code))
        return routed

    def _from_grid(self, lon: float, lat: float) -> dict[str, str]:
        """Return the grid cell and its unit, if the city has a grid (万米单元网格) covering the point."""
        for cell in getattr(self.city, "grid", None) or ():
            if point_in_shape(lon, lat, cell.polygon):
                return (
                    {"grid_cell": cell.code, "unit": cell.unit}
                    if getattr(cell, "unit", "")
                    else {"grid_cell": cell.code}
                )
        return {}

    def _from_city(self, subject: str) -> Routing:
        if self.city is None:
            return Routing()
        vehicle = self.city.vehicle_by_terminal.get(subject)
        if vehicle is not None:
            return Routing(
                owner=vehicle.company,
                owner_kind="transport_company" if vehicle.kind == "muck" else "sanitation_company",
                plate=vehicle.plate,
                place=vehicle.plate,
            )
        facility = self.city.facility_by_device.get(subject)
        if facility is not None:
            owner = getattr(facility, "operator", "") or facility.name
            return Routing(owner=owner, owner_kind=facility.kind, place=facility.name)
        site = self.city.site_by_device.get(subject)
        if site is not None:
            return Routing(owner=getattr(site, "company", "") or site.name, owner_kind="site", place=site.name)
        return Routing()
