"""The import mapping (导入映射): which source file becomes which part of the city, and how its columns map.

A small YAML file, e.g.::

    datum: GCJ-02                       # the sources' datum unless a source says otherwise
    city: {name: 示例市, version: 1, center: [114.305, 30.592]}
    sources:
      grid: {file: gis/grid.shp, datum: CGCS2000, fields: {code: BGID, name: BGMC, unit: ZRDW}}
      vehicles: {file: registry/车辆.csv, fields: {vehicle_id: 车辆编号, plate: 车牌号, kind: 车辆类型}}

``fields`` maps each inventory field to the source's column (or attribute) name; ``values`` maps a
column's codes onto the inventory's (``kind: {渣土车: muck}``); ``defaults`` fills fields the source
lacks. Paths are relative to the mapping file. Everything is checked before any file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from devices.datum import Datum, parse_datum
from devices.importing.problems import ImportFailed, Problem

DatumName = Annotated[Datum, BeforeValidator(lambda v: parse_datum(v) if isinstance(v, str) else v)]
Target = Literal[
    "grid", "zones", "sites", "disposal_sites", "routes", "companies", "vehicles", "terminals", "permits"
]  # fmt: skip
GEOMETRY_TARGETS: frozenset[str] = frozenset({"grid", "zones", "sites", "disposal_sites", "routes"})

FIELDS: dict[str, tuple[str, ...]] = {  # the inventory fields each target can fill; the first ones are required
    "grid": ("code", "unit", "name"),
    "zones": ("zone_id", "name", "vehicle_kinds"),
    "sites": ("site_id", "name", "device_id", "lon", "lat", "company"),
    "disposal_sites": ("site_id", "name"),
    "routes": ("route_id",),
    "companies": ("company_id", "name"),
    "vehicles": ("vehicle_id", "plate", "kind", "company", "terminal_id", "jt808_phone", "jt808_model"),
    "terminals": ("terminal_id", "plate", "jt808_phone", "jt808_model"),
    "permits": (
        "permit_id",
        "vehicle_id",
        "plate",
        "route_id",
        "valid_from",
        "valid_to",
        "corridor_m",
        "windows",
        "origin_sites",
        "disposal_sites",
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "grid": ("code", "unit"),
    "zones": ("zone_id", "name"),
    "sites": ("site_id", "name", "device_id"),
    "disposal_sites": ("site_id", "name"),
    "routes": ("route_id",),
    "companies": ("company_id", "name"),
    "vehicles": ("plate", "kind", "company"),
    "terminals": ("terminal_id",),
    "permits": ("permit_id", "valid_from", "valid_to"),
}


class Source(BaseModel):
    """One source file and how it maps onto a part of the city."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: Path
    fields: dict[str, str] = Field(default_factory=dict, description="inventory field -> source column")
    values: dict[str, dict[str, str]] = Field(default_factory=dict, description="field -> {source code: value}")
    defaults: dict[str, Any] = Field(default_factory=dict, description="field -> value when the source lacks it")
    datum: DatumName | None = Field(default=None, description="the file's datum; None: the mapping's")
    encoding: str | None = Field(default=None, description="text encoding; None: UTF-8, else GBK/GB18030")
    sheet: str | None = Field(default=None, description="XLSX sheet; None: the first")


class ImportSpec(BaseModel):
    """A whole mapping file: the city header, the default datum and the sources by target."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    datum: DatumName = "WGS-84"
    city: dict[str, Any] = Field(default_factory=dict, description="city.yaml fields (name, version, center, ...)")
    sources: dict[Target, Source]

    @model_validator(mode="after")
    def _fields_known(self) -> ImportSpec:
        """Refuse a field a target does not have and a required field left unmapped, naming the choices."""
        problems = []
        for target, source in self.sources.items():
            known, given = FIELDS[target], {*source.fields, *source.defaults}
            problems += [
                f"sources.{target}: unknown field {f!r} (choose from {list(known)})" for f in given - set(known)
            ]
            missing = [f for f in REQUIRED[target] if f not in given]
            problems += [f"sources.{target}: map the required field(s) {missing}"] if missing else []
        if "permits" in self.sources and "vehicles" not in self.sources:
            problems.append("sources.permits: permits need the vehicles registry (sources.vehicles)")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def datum_of(self, target: str) -> Datum:
        """Return the datum of a target's source file."""
        return self.sources[target].datum or self.datum  # type: ignore[index]


def with_overrides(spec: dict[str, Any], sources: list[str], fields: list[str]) -> dict[str, Any]:
    """Return a mapping (as read) with ``TARGET=FILE`` sources and ``TARGET.FIELD=COLUMN`` fields from the CLI."""
    given = spec.get("sources") or {}
    if not isinstance(given, dict):
        return spec  # validation says what is wrong with it
    out = {**spec, "sources": {k: dict(v) if isinstance(v, dict) else v for k, v in given.items()}}
    for item in sources:
        target, _, file = item.partition("=")
        out["sources"].setdefault(target.strip(), {})["file"] = file.strip()
    for item in fields:
        path, _, column = item.partition("=")
        target, _, field = path.partition(".")
        entry = out["sources"].setdefault(target.strip(), {})
        entry["fields"] = {**entry.get("fields", {}), field.strip(): column.strip()}
    return out


def read_spec(path: Path | None, sources: list[str], fields: list[str], datum: str | None) -> ImportSpec:
    """Read a mapping file (if any) with the command line's overrides; raise ImportFailed naming every problem."""
    data: Any = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ImportFailed.of(str(path), f"cannot be read as YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ImportFailed.of(str(path), f"expected a mapping (datum, city, sources), got {type(data).__name__}")
    data = with_overrides(data, sources, fields)
    if datum is not None:
        data["datum"] = datum
    try:
        return ImportSpec.model_validate(data)
    except ValidationError as exc:
        where = str(path) if path is not None else "(command line)"
        raise ImportFailed(
            Problem(where, (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "") + part)
            for e in exc.errors(include_url=False)
            for part in e["msg"].removeprefix("Value error, ").split("\n")
        ) from exc
