"""The city inventory: vehicles, permits, facilities, sites and rule parameters, loaded from data files.

A city is a directory of YAML files (``city.yaml``, ``vehicles.yaml``, ``permits.yaml``,
``facilities.yaml``, ``sites.yaml``). Each is validated on load; a problem is reported as a
``CityConfigError`` that names the file, the field and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from devices.contracts import DeviceId, Lat, Lon

Point = tuple[Lon, Lat]
Polyline = Annotated[list[Point], Field(min_length=2)]

CITY_FILES = ("city.yaml", "vehicles.yaml", "permits.yaml", "facilities.yaml", "sites.yaml")


class CityConfigError(ValueError):
    """A city data file is missing, unreadable or invalid."""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Vehicle(_Data):
    """A truck and the GPS terminal it carries."""

    vehicle_id: str
    plate: str
    kind: Literal["garbage", "muck"]
    company: str
    terminal_id: DeviceId
    round: Polyline | None = Field(default=None, description="planned collection round (garbage)")


class Permit(_Data):
    """A muck-truck transport permit (准运证): the approved route and its corridor."""

    permit_id: str
    vehicle_id: str
    route: Polyline
    corridor_m: float = Field(default=50.0, gt=0.0, le=1000.0)
    valid_from: date
    valid_to: date
    origin_sites: list[str] = Field(default_factory=list)
    disposal_sites: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates_in_order(self) -> Permit:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class Facility(_Data):
    """A compactor / transfer station or a smart bin with a fill sensor."""

    facility_id: str
    name: str
    kind: Literal["station", "bin"]
    lon: Lon
    lat: Lat
    device_id: DeviceId


class Site(_Data):
    """A construction site with a boundary dust / noise monitor."""

    site_id: str
    name: str
    lon: Lon
    lat: Lat
    device_id: DeviceId


class RouteDeviationParams(_Data):
    """Parameters of the route-corridor deviation rule."""

    min_duration_s: float = Field(default=30.0, ge=0.0)
    hysteresis_m: float = Field(default=10.0, ge=0.0)


class UncoveredLoadParams(_Data):
    """Parameters of the uncovered-load rule."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=20.0, ge=0.0)


class OverflowParams(_Data):
    """Parameters of the station-overflow rule (fill-ratio bands)."""

    slight_ratio: float = Field(default=0.8, gt=0.0)
    severe_ratio: float = Field(default=0.95, gt=0.0)
    clear_ratio: float = Field(default=0.7, ge=0.0)

    @model_validator(mode="after")
    def _bands_in_order(self) -> OverflowParams:
        if not self.clear_ratio < self.slight_ratio <= self.severe_ratio:
            raise ValueError("need clear_ratio < slight_ratio <= severe_ratio")
        return self


class RuleParams(_Data):
    """Per-rule parameters; every threshold is a default that a city may override."""

    route_deviation: RouteDeviationParams = RouteDeviationParams()
    uncovered_load: UncoveredLoadParams = UncoveredLoadParams()
    overflow: OverflowParams = OverflowParams()
    matter_codes: dict[str, str] = Field(
        default_factory=lambda: {
            "route_deviation": "08011",
            "uncovered_load": "08011",
            "overflow": "06042",
        }
    )


class CityMeta(_Data):
    """The city.yaml header: name, data version, map centre and rule parameters."""

    name: str
    version: int = Field(ge=1)
    timezone: str = "Asia/Shanghai"
    center: Point
    rules: RuleParams = RuleParams()


class City(_Data):
    """Everything the rules and the simulator know about the city."""

    meta: CityMeta
    vehicles: list[Vehicle]
    permits: list[Permit] = Field(default_factory=list)
    facilities: list[Facility] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> City:
        _require_unique("vehicles.terminal_id", (v.terminal_id for v in self.vehicles))
        _require_unique("vehicles.vehicle_id", (v.vehicle_id for v in self.vehicles))
        _require_unique("permits.vehicle_id", (p.vehicle_id for p in self.permits))
        known = {v.vehicle_id for v in self.vehicles}
        for p in self.permits:
            if p.vehicle_id not in known:
                raise ValueError(f"permit {p.permit_id} names unknown vehicle {p.vehicle_id!r}")
        return self

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> City:
        """Copy with changes, validated again so the cached lookups below are rebuilt."""
        return City.model_validate({**self.model_dump(), **(update or {})})

    @cached_property
    def vehicle_by_terminal(self) -> dict[str, Vehicle]:
        """Vehicles keyed by the id of their GPS terminal."""
        return {v.terminal_id: v for v in self.vehicles}

    @cached_property
    def permit_by_vehicle(self) -> dict[str, Permit]:
        """Permits keyed by vehicle id."""
        return {p.vehicle_id: p for p in self.permits}

    @cached_property
    def facility_by_device(self) -> dict[str, Facility]:
        """Facilities keyed by the id of their sensor."""
        return {f.device_id: f for f in self.facilities}

    @cached_property
    def site_by_device(self) -> dict[str, Site]:
        """Sites keyed by the id of their monitor."""
        return {s.device_id: s for s in self.sites}

    def permit_for_terminal(self, terminal_id: str) -> Permit | None:
        """Return the permit of the vehicle carrying this terminal, if any."""
        vehicle = self.vehicle_by_terminal.get(terminal_id)
        return self.permit_by_vehicle.get(vehicle.vehicle_id) if vehicle else None


def _require_unique(what: str, values: Iterator[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} appears twice")
        seen.add(v)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CityConfigError(f"{path}: file is missing") from exc
    except yaml.YAMLError as exc:
        raise CityConfigError(f"{path}: not valid YAML: {exc}") from exc


def _format_errors(root: Path, exc: ValidationError) -> str:
    """Describe every problem as ``file: field: message (got value)``."""
    lines = [f"{root}: {exc.error_count()} problem(s) in the city data"]
    for err in exc.errors(include_url=False):
        part, *rest = err["loc"] or ("(city)",)
        file = "city.yaml" if part == "meta" else f"{part}.yaml" if part != "(city)" else "(cross-file check)"
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".") or "(top level)"
        got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict | list) else ""
        lines.append(f"  {root / file}: {field}: {err['msg']}{got}")
    return "\n".join(lines)


def load_city(directory: str | Path) -> City:
    """Load and validate a city directory; raise CityConfigError naming file and field."""
    root = Path(directory)
    if not root.is_dir():
        raise CityConfigError(f"{root}: not a directory")
    parts: dict[str, Any] = {}
    for name in CITY_FILES:
        path = root / name
        if name != "city.yaml" and not path.exists():
            continue
        data = _read_yaml(path)
        key = "meta" if name == "city.yaml" else name.removesuffix(".yaml")
        parts[key] = data if data is not None else ([] if key != "meta" else {})
    try:
        return City.model_validate(parts)
    except ValidationError as exc:
        raise CityConfigError(_format_errors(root, exc)) from exc
