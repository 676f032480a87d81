"""The city inventory: vehicles, permits, sites, facilities, zones, the grid and rule parameters.

A city is a directory of data files: ``city.yaml`` (name, version, time zone, matter-code table,
rule parameters), ``vehicles.yaml``, ``permits.yaml``, ``sites.yaml``, ``disposal_sites.yaml``,
``facilities.yaml``, ``collection_points.yaml``, ``zones.yaml``, ``roads.yaml`` (road segments
with their own speed limits), ``background_stations.yaml`` (ambient PM10 monitors), ``cameras.yaml``
(the AI cameras allowed to publish) and ``grid.geojson`` (the 万米单元网格 cells). Each is validated on
load; every problem is reported at once in a ``CityConfigError`` that names the file, the entry, the
field and what was expected. Nothing else escapes: unreadable, undecodable or malformed files are
``CityConfigError`` too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from devices.areas import Area
from devices.contracts import DeviceId, Lat, Lon
from devices.datum import Datum, parse_datum
from devices.reporting import ReportingIntervals
from devices.reproject import parts_to_wgs84
from devices.schedules import Schedule, Window
from devices.terminals import PHONE_PATTERN, TerminalModel, phone_key

Point = tuple[Lon, Lat]
OdourGrade = Literal["1", "2-new", "2-existing", "3-new", "3-existing"]
"""A station's grade under GB 14554-93 Table 1: grade 1; grades 2 and 3 split into new (新扩改建) and existing."""
Polyline = Annotated[list[Point], Field(min_length=2)]
DatumName = Annotated[Datum, BeforeValidator(lambda v: parse_datum(v) if isinstance(v, str) else v)]

CITY_FILES = (
    "city.yaml",
    "vehicles.yaml",
    "permits.yaml",
    "facilities.yaml",
    "sites.yaml",
    "disposal_sites.yaml",
    "collection_points.yaml",
    "zones.yaml",
    "roads.yaml",
    "background_stations.yaml",
    "cameras.yaml",
    "terminals.yaml",
    "grid.geojson",
)
GRID_CODE = r"^\d{15}$"
DEFAULT_MATTERS = {  # the city's matter table (事项): national codes, and city extension codes (x1xx) where
    # the national table has none precise enough; a city may map several kinds onto one code in city.yaml
    "06010": "暴露垃圾",
    "06011": "积存垃圾渣土",
    "06012": "道路不洁",
    "06014": "道路遗撒",
    "06028": "噪声扰民",
    "06042": "垃圾站(箱)满溢",
    "06101": "垃圾未按时清运",
    "06102": "垃圾站(箱)即将满溢 (预派遣)",
    "06103": "垃圾站(箱)臭气超标",
    "08001": "施工噪声扰民",
    "08004": "工地扬尘",
    "08005": "施工废弃料",
    "08011": "渣土车未密闭",
    "08012": "工地车轮夹带 (车辆带泥上路)",
    "08101": "渣土车未按规定路线行驶 (线路偏移)",
    "08102": "渣土车未按规定时段运输",
    "08103": "渣土车驶入禁行区域",
    "08104": "渣土车超速行驶",
    "08105": "偷倒乱倒建筑垃圾",
    "08106": "渣土运输未到指定消纳场",
    "08107": "夜间违规施工",
    "08108": "停运企业车辆违规运营",
    "08109": "渣土车无有效准运证运输",
    "03005": "垃圾箱破损",
    "03101": "监测终端离线 (设备维护)",
    "03102": "定位数据异常 (设备维护)",
}


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
    jt808_phone: str | None = Field(
        default=None,
        pattern=PHONE_PATTERN,
        description="the JT/T 808 terminal's phone / SIM number, if it speaks JT/T 808",
    )
    jt808_model: str | None = Field(default=None, description="its model in terminals.yaml (vendor signals)")


__all__ = [
    "City",
    "CityConfigError",
    "load_city",
]


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
    windows: list[Window] = Field(default_factory=list, description="allowed hours; empty: any time")
    revoked_at: AwareDatetime | None = Field(
        default=None, description="吊销 / 注销: from this instant the truck runs without a permit (kept for the record)"
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> Permit:
        if self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self

    @cached_property
    def revoked_ms(self) -> int | None:
        """Return when the permit was revoked, in epoch ms (None: it stands)."""
        return None if self.revoked_at is None else int(self.revoked_at.timestamp() * 1000)

    def revoked_by(self, ts_ms: int) -> bool:
        """Tell whether the permit was revoked at or before an event time."""
        return self.revoked_ms is not None and ts_ms >= self.revoked_ms


class Facility(_Data):
    """A compactor / transfer station or a smart bin with a fill (and maybe odour) sensor."""

    facility_id: str
    name: str
    kind: Literal["station", "bin"]
    lon: Lon
    lat: Lat
    device_id: DeviceId
    operator: str = ""
    odour_grade: OdourGrade | None = Field(default=None, description="GB 14554-93 grade; None: city default")


class Site(_Data):
    """A construction site: its boundary monitor, gate, exits, wash stations and night-work permits."""

    site_id: str
    name: str
    lon: Lon
    lat: Lat
    device_id: DeviceId
    company: str = ""
    polygon: Area | None = None
    exits: list[Point] = Field(default_factory=list)
    wash_stations: list[Point] = Field(default_factory=list)
    night_work: list[Schedule] = Field(default_factory=list, description="approved night-work periods")
    background_device_id: DeviceId | None = Field(
        default=None,
        description="the background station's monitor (background_stations.yaml) its PM10 is judged against",
    )


class BackgroundStation(_Data):
    """An ambient PM10 monitor (背景站) whose window means are subtracted from nearby sites' (use_background)."""

    device_id: DeviceId
    lon: Lon
    lat: Lat
    name: str = ""


class Camera(_Data):
    """An AI camera (city network or site gate): the device id it publishes as, and where it stands."""

    device_id: DeviceId
    lon: Lon
    lat: Lat
    name: str = ""
    grid_cell: Annotated[str, Field(pattern=GRID_CODE)] | None = Field(
        default=None, description="the 万米 cell it watches (a code of grid.geojson)"
    )
    operator: str = Field(default="", description="who runs it (its online rate is reported under this name)")


class DisposalSite(_Data):
    """An approved disposal ground (消纳场) where muck may be unloaded."""

    site_id: str
    name: str
    polygon: Area


class CollectionPoint(_Data):
    """A garbage collection point that must be served every day before its deadline (日产日清)."""

    point_id: str
    name: str
    lon: Lon
    lat: Lat
    deadline: time
    served_by: list[str] = Field(min_length=1, description="vehicle ids")


class ForbiddenZone(_Data):
    """A zone closed to some vehicle kinds while its schedule is in force (禁行区)."""

    zone_id: str
    name: str
    polygon: Area
    vehicle_kinds: list[Literal["garbage", "muck"]] = Field(
        default_factory=lambda: list[Literal["garbage", "muck"]](["muck"])
    )
    schedule: Schedule = Schedule()


class RoadSegment(_Data):
    """A stretch of road with its own speed limit: a centre line and a half-width (超速 per segment)."""

    segment_id: str
    name: str
    polyline: Polyline = Field(description="centre line, (lon, lat) vertices")
    half_width_m: float = Field(default=15.0, gt=0.0, le=100.0, description="a fix this close to the line is on it")
    limit_kmh: float = Field(gt=0.0, le=120.0)
    vehicle_kinds: list[Literal["garbage", "muck"]] = Field(
        default_factory=lambda: list[Literal["garbage", "muck"]](["garbage", "muck"]), min_length=1
    )

    @model_validator(mode="after")
    def _has_length(self) -> RoadSegment:
        if len(set(self.polyline)) < 2:
            raise ValueError("polyline needs two distinct (lon, lat) points")
        return self


class GridCell(_Data):
    """A 万米单元网格 cell: 15-digit code (district 6 + street 3 + community 3 + serial 3)."""

    code: Annotated[str, Field(pattern=GRID_CODE)]
    name: str = ""
    unit: str = Field(description="the responsible unit")
    polygon: Area

    @property
    def district(self) -> str:
        """Return the 6-digit district code."""
        return self.code[:6]


class CityMeta(_Data):
    """The city.yaml header: name, data version, map centre and rule parameters."""

    name: str
    version: int = Field(ge=1)
    timezone: str = "Asia/Shanghai"
    center: Point
    matters: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MATTERS))
    rules: dict[str, Any] = Field(
        default_factory=dict, description="the rules' parameters, as read: rules.params validates them (RuleParams)"
    )
    reporting: ReportingIntervals = ReportingIntervals()
    datum: DatumName = Field(default="WGS-84", description="坐标系 of every data file not in datums")
    datums: dict[str, DatumName] = Field(
        default_factory=dict, description="坐标系 per data file, e.g. {grid.geojson: GCJ-02}; converted at load"
    )

    @field_validator("datums")
    @classmethod
    def _known_files(cls, datums: dict[str, str]) -> dict[str, str]:
        """Refuse a datum declared for a file a city does not have (a typo would silently skip conversion)."""
        unknown = sorted(set(datums) - set(CITY_FILES))
        if unknown:
            raise ValueError(f"datums names unknown file(s) {unknown}; the city's files are {list(CITY_FILES)}")
        return datums

    def datum_of(self, part: str) -> Datum:
        """Return the datum of one part of the city (``meta``, ``vehicles``, ``grid`` ...)."""
        return self.datums.get(FILE_OF[part], self.datum)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules_as_read(cls, value: object) -> object:
        """Keep a validated parameter model (``rules.params.RuleParams``) as the data it was made from."""
        return value.model_dump() if isinstance(value, BaseModel) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        """Refuse a time zone the IANA database lacks (it would fail at the first event, not here)."""
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a directory name such as "Asia"
            raise ValueError(f"unknown time zone {name!r} (an IANA name, e.g. Asia/Shanghai)") from exc
        return name


class City(_Data):
    """Everything the rules and the simulator know about the city."""

    meta: CityMeta
    vehicles: list[Vehicle]
    permits: list[Permit] = Field(default_factory=list)
    facilities: list[Facility] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    disposal_sites: list[DisposalSite] = Field(default_factory=list)
    collection_points: list[CollectionPoint] = Field(default_factory=list)
    zones: list[ForbiddenZone] = Field(default_factory=list)
    roads: list[RoadSegment] = Field(default_factory=list, description="optional: urban default elsewhere")
    grid: list[GridCell] = Field(default_factory=list)
    background_stations: list[BackgroundStation] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list, description="optional: without it no camera may publish")
    terminals: list[TerminalModel] = Field(default_factory=list, description="optional: JT/T 808 terminal models")

    @field_validator("roads")
    @classmethod
    def _segment_ids_unique(cls, roads: list[RoadSegment]) -> list[RoadSegment]:
        _require_unique("segment_id", (r.segment_id for r in roads))
        return roads

    @model_validator(mode="after")
    def _references_resolve(self) -> City:
        _require_unique("vehicles.yaml: vehicle_id", (v.vehicle_id for v in self.vehicles))
        _require_unique("permits.yaml: vehicle_id", (p.vehicle_id for p in self.permits if p.revoked_at is None))
        _require_unique("permits.yaml: permit_id", (p.permit_id for p in self.permits))
        _require_unique("grid.geojson: code", (c.code for c in self.grid))
        _require_unique_devices(_devices(self))
        _require_unique(
            "vehicles.yaml: jt808_phone", (phone_key(v.jt808_phone) for v in self.vehicles if v.jt808_phone is not None)
        )
        _require_unique("terminals.yaml: model", (t.model for t in self.terminals))
        problems = _reference_problems(self)
        if problems:
            raise ValueError("\n    ".join(["references that do not resolve:", *problems]))
        return self

    def device_kinds(self) -> list[str]:
        """Return the device id of every terminal, fill sensor, site and background monitor (cameras aside)."""
        return [device_id for device_id, kind, _ in _devices(self) if kind != "camera"]

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> City:
        """Copy with changes, validated again so the cached lookups below are rebuilt."""
        return City.model_validate({**self.model_dump(), **(update or {})})

    @cached_property
    def vehicle_by_terminal(self) -> dict[str, Vehicle]:
        """Vehicles keyed by the id of their GPS terminal."""
        return {v.terminal_id: v for v in self.vehicles}

    @cached_property
    def vehicle_by_phone(self) -> dict[str, Vehicle]:
        """Vehicles with a JT/T 808 terminal, keyed by its phone number without padding zeros (``phone_key``)."""
        return {phone_key(v.jt808_phone): v for v in self.vehicles if v.jt808_phone is not None}

    @cached_property
    def terminal_model(self) -> dict[str, TerminalModel]:
        """JT/T 808 terminal models by name."""
        return {t.model: t for t in self.terminals}

    @cached_property
    def permit_by_vehicle(self) -> dict[str, Permit]:
        """Permits keyed by vehicle id."""
        return _standing_permits(self.permits)

    @cached_property
    def facility_by_device(self) -> dict[str, Facility]:
        """Facilities keyed by the id of their sensor."""
        return {f.device_id: f for f in self.facilities}

    @cached_property
    def site_by_device(self) -> dict[str, Site]:
        """Sites keyed by the id of their monitor."""
        return {s.device_id: s for s in self.sites}

    @cached_property
    def background_by_device(self) -> dict[str, BackgroundStation]:
        """Background stations keyed by the id of their monitor."""
        return {b.device_id: b for b in self.background_stations}

    @cached_property
    def camera_by_device(self) -> dict[str, Camera]:
        """Cameras keyed by their device id."""
        return {c.device_id: c for c in self.cameras}

    @cached_property
    def kind_by_device(self) -> dict[str, str]:
        """The topic kind (vehicle, facility, site, camera) each device of the city publishes as."""
        return {device_id: kind for device_id, kind, _ in _devices(self)}

    @cached_property
    def sites_by_background(self) -> dict[str, list[Site]]:
        """The sites judged against each background station, keyed by the station's monitor id."""
        return {b: [s for s in self.sites if s.background_device_id == b] for b in self.background_by_device}

    def permit_for_terminal(self, terminal_id: str) -> Permit | None:
        """Return the permit of the vehicle carrying this terminal, if any."""
        vehicle = self.vehicle_by_terminal.get(terminal_id)
        return self.permit_by_vehicle.get(vehicle.vehicle_id) if vehicle else None


def _standing_permits(permits: list[Permit]) -> dict[str, Permit]:
    """Return each vehicle's permit: the one not revoked, else the one revoked last (its truck runs unpermitted)."""
    by_vehicle: dict[str, Permit] = {}
    for p in sorted(permits, key=lambda p: (p.revoked_at is None, p.revoked_ms or 0)):
        by_vehicle[p.vehicle_id] = p
    return by_vehicle


def _devices(city: City) -> list[tuple[str, str, str]]:
    """Return (device id, topic kind, file) for every device; background monitors publish as sites."""
    return (
        [(v.terminal_id, "vehicle", "vehicles.yaml") for v in city.vehicles]
        + [(f.device_id, "facility", "facilities.yaml") for f in city.facilities]
        + [(s.device_id, "site", "sites.yaml") for s in city.sites]
        + [(b.device_id, "site", "background_stations.yaml") for b in city.background_stations]
        + [(c.device_id, "camera", "cameras.yaml") for c in city.cameras]
    )


def _require_unique_devices(devices: list[tuple[str, str, str]]) -> None:
    """Refuse a device id listed twice, in one file or in two, naming the files."""
    files: dict[str, list[str]] = {}
    for device_id, _, file in devices:
        files.setdefault(device_id, []).append(file)
    for device_id, where in files.items():
        if len(where) > 1:
            raise ValueError(f"device id {device_id!r} appears twice ({', '.join(where)})")


def _reference_problems(city: City) -> list[str]:
    """Return every cross-file reference that does not resolve, each naming its file."""
    vehicles = {v.vehicle_id for v in city.vehicles}
    sites = {s.site_id for s in city.sites}
    disposal = {d.site_id for d in city.disposal_sites}
    problems = [
        f"permits.yaml: permit {p.permit_id} names unknown vehicle {p.vehicle_id!r}"
        for p in city.permits
        if p.vehicle_id not in vehicles
    ]
    problems += [
        f"permits.yaml: permit {p.permit_id} names unknown origin site {s!r} (sites.yaml has {sorted(sites)})"
        for p in city.permits
        for s in p.origin_sites
        if s not in sites
    ]
    problems += [
        f"permits.yaml: permit {p.permit_id} names unknown disposal site {s!r} (disposal_sites.yaml has "
        f"{sorted(disposal)})"
        for p in city.permits
        for s in p.disposal_sites
        if s not in disposal
    ]
    problems += [
        f"collection_points.yaml: collection point {c.point_id} is served by unknown vehicle {v!r}"
        for c in city.collection_points
        for v in c.served_by
        if v not in vehicles
    ]
    problems += _background_problems(city) + _camera_problems(city)
    models = {t.model for t in city.terminals}
    problems += [
        f"vehicles.yaml: vehicle {v.vehicle_id}: jt808_model {v.jt808_model!r} is not in terminals.yaml "
        f"({sorted(models)})"
        for v in city.vehicles
        if v.jt808_model is not None and v.jt808_model not in models
    ]
    return problems


def _camera_problems(city: City) -> list[str]:
    """Return every camera naming a grid cell that grid.geojson does not have."""
    cells = {c.code for c in city.grid}
    return [
        f"cameras.yaml: camera {c.device_id}: grid_cell {c.grid_cell!r} is not a cell of grid.geojson"
        for c in city.cameras
        if c.grid_cell is not None and c.grid_cell not in cells
    ]


def _background_problems(city: City) -> list[str]:
    """Return every site naming a background station that background_stations.yaml does not have."""
    stations = sorted(b.device_id for b in city.background_stations)
    return [
        f"sites.yaml: site {s.site_id}: background_device_id {s.background_device_id!r} is not a background "
        f"station (background_stations.yaml has {stations})"
        for s in city.sites
        if s.background_device_id is not None and s.background_device_id not in stations
    ]


def _require_unique(what: str, values: Iterator[str]) -> None:
    """Refuse a value met twice, naming what it is."""
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what} {v!r} appears twice")
        seen.add(v)


def _grid_from_geojson(data: Any) -> list[dict[str, Any]]:
    """Turn a GeoJSON FeatureCollection of (Multi)Polygons into grid-cell dicts (field errors left to pydantic)."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ValueError("expected a GeoJSON FeatureCollection")
    features = data.get("features") or []
    if not isinstance(features, list):
        raise TypeError(f"features must be a list, got {type(features).__name__}")
    return [_grid_cell(i, feature) for i, feature in enumerate(features)]


def _grid_cell(i: int, feature: Any) -> dict[str, Any]:
    """Return one Polygon / MultiPolygon feature as a grid-cell dict: its properties and its area (holes kept)."""
    feature = feature or {}
    geometry = (feature.get("geometry") if isinstance(feature, dict) else None) or {}
    kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"features[{i}]: geometry must be a Polygon or MultiPolygon, got {kind!r}")
    coordinates, properties = geometry.get("coordinates"), feature.get("properties") or {}
    if not isinstance(coordinates, list) or not coordinates or not isinstance(properties, dict):
        raise TypeError(f"features[{i}]: coordinates must be a non-empty list of rings and properties an object")
    return {**properties, "polygon": geometry}


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~4x faster on a city of 10,000 trucks


def _read_yaml(path: Path) -> Any:
    """Read one data file; a file that cannot be read or parsed is a CityConfigError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CityConfigError(f"{path}: file is missing") from exc
    except UnicodeDecodeError as exc:
        raise CityConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise CityConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    try:
        return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506  # SAFE_LOADER is yaml's (C)SafeLoader
    except yaml.YAMLError as exc:
        raise CityConfigError(f"{path}: not valid YAML: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # a value YAML cannot build (2026-02-30, 5,000 digits); deep nesting
        raise CityConfigError(f"{path}: not valid YAML: {type(exc).__name__}: {exc}") from exc


FILE_OF = {
    "meta": "city.yaml",
    "grid": "grid.geojson",
    **{n.split(".")[0]: n for n in CITY_FILES if n.endswith(".yaml") and n != "city.yaml"},
}


def format_errors(root: Path, exc: ValidationError, prefix: tuple[str, ...] = ()) -> str:
    """Describe every problem as ``file: field: message (got value)`` (``prefix``: where the model validated sits)."""
    lines = [f"{root}: {exc.error_count()} problem(s) in the city data"]
    for err in exc.errors(include_url=False):
        part, *rest = (*prefix, *err["loc"]) or ("(city)",)
        file = FILE_OF.get(str(part), "(cross-file check)")
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".") or "(top level)"
        got = f" (got {err['input']!r})" if not isinstance(err.get("input"), dict | list) else ""
        lines.append(f"  {root / file}: {field}: {err['msg']}{got}")
    return "\n".join(lines)


def city_version(directory: str | Path) -> int | None:
    """Return the version city.yaml declares, None if it cannot be read (a process follows it to reload)."""
    try:
        data = _read_yaml(Path(directory) / "city.yaml")
    except CityConfigError:
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, int) else None


def load_city(directory: str | Path) -> City:
    """Load and validate a city directory; raise CityConfigError naming file and field."""
    root = Path(directory)
    return city_from_files(root, read_city_files(root))


def read_city_files(root: Path) -> dict[str, Any]:
    """Read a city directory's data files as parsed YAML / GeoJSON (file name -> data), unvalidated."""
    if not root.is_dir():
        raise CityConfigError(f"{root}: not a directory")
    return {
        name: _read_yaml(root / name)
        for name in CITY_FILES  # JSON is YAML: GeoJSON reads the same way
        if name == "city.yaml" or (root / name).exists()
    }


def city_from_files(root: Path, files: Mapping[str, Any]) -> City:
    """Validate a city's parsed files (file name -> its YAML / GeoJSON data); raise CityConfigError naming
    the file and field. ``load_city`` reads them; importers and tests hand them over directly."""
    parts: dict[str, Any] = {}
    for name, data in files.items():
        key = "meta" if name == "city.yaml" else name.split(".")[0]
        if name.endswith(".geojson"):
            try:
                data = _grid_from_geojson(data)
            except (TypeError, ValueError) as exc:
                raise CityConfigError(f"{root / name}: {exc}") from exc
        parts[key] = data if data is not None else ([] if key != "meta" else {})
    try:
        return _in_wgs84(City.model_validate(parts))
    except ValidationError as exc:
        raise CityConfigError(format_errors(root, exc)) from exc


def _in_wgs84(city: City) -> City:
    """Return the city with every file's coordinates converted from its declared datum to WGS-84."""
    meta = city.meta
    if meta.datum in ("WGS-84", "CGCS2000") and set(meta.datums.values()) <= {"WGS-84", "CGCS2000"}:
        return city
    parts = parts_to_wgs84(city.model_dump(), meta.datum_of)
    parts["meta"] |= {"datum": "WGS-84", "datums": {}}  # what the loaded city now is
    return City.model_validate(parts)
