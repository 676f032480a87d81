"""Turn the sources of an import mapping into the city's data files, collecting every problem with its place.

Each row or feature is mapped column by column (``spec.Source.fields``), its values parsed
(``values``), and checked with the inventory's own model, so a problem names the source file, the row
or feature and the source's column, not the YAML the import writes. Joins are checked the same way:
a permit naming an unknown plate or route, a vehicle naming an unknown company.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from devices.importing.features import Feature, read_features
from devices.importing.problems import ImportFailed, Problem
from devices.importing.spec import GEOMETRY_TARGETS, ImportSpec, Source
from devices.importing.tables import read_table
from devices.importing.values import converted
from devices.inventory import DisposalSite, ForbiddenZone, GridCell, Permit, Site, Vehicle

MODELS: dict[str, type[BaseModel]] = {
    "grid": GridCell, "zones": ForbiddenZone, "sites": Site, "disposal_sites": DisposalSite,
    "vehicles": Vehicle, "permits": Permit,
}  # fmt: skip
AREA_TARGETS = ("grid", "zones", "sites", "disposal_sites")


@dataclass(frozen=True)
class Record:
    """One row or feature of a source: where it is, its mapped values and its geometry (features only)."""

    file: str
    place: dict[str, int]  # {"row": 12} or {"feature": 3}
    values: dict[str, Any]
    columns: dict[str, str]  # inventory field -> source column
    geometry: dict[str, Any] | None = None
    unreadable: set[str] = field(default_factory=set)  # fields whose value could not be parsed (reported)

    def problem(self, message: str, fld: str | None = None) -> Problem:
        """Return a problem at this record, in the named field's source column (if it came from one)."""
        return Problem(self.file, message, column=self.columns.get(fld) if fld else None, **self.place)


@dataclass
class Imported:
    """What an import made: entries by target (inventory dicts), and every problem found."""

    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    failed: set[str] = field(default_factory=set)  # targets whose file could not be read: no joins against them


def read_records(spec: ImportSpec, root: Path, target: str, out: Imported) -> list[Record]:
    """Read one target's source and map its columns; a file that cannot be read adds its problems."""
    source = spec.sources[target]  # type: ignore[index]
    path = source.file if source.file.is_absolute() else root / source.file
    try:
        if target in GEOMETRY_TARGETS:
            features = read_features(path, encoding=source.encoding).features
            _require_columns(str(path), source, {k for f in features for k in f.properties})
            return [_record(str(path), {"feature": f.number}, f.properties, source, out, f) for f in features]
        table = read_table(path, encoding=source.encoding, sheet=source.sheet)
        _require_columns(str(path), source, set(table.columns))
    except ImportFailed as exc:
        out.problems += exc.problems
        out.failed.add(target)
        return []
    return [_record(str(path), {"row": r.number}, r.values, source, out) for r in table.rows]


def _require_columns(file: str, source: Source, columns: set[str]) -> None:
    """Refuse a mapping naming columns the file lacks, once per file, naming what it has."""
    missing = [(fld, col) for fld, col in source.fields.items() if col not in columns]
    if missing:
        has = "、".join(sorted(columns)) or "no columns"
        raise ImportFailed(
            Problem(file, f"no such column (for {fld}); the file has {has}", column=col) for fld, col in missing
        )


def _record(
    file: str, place: dict[str, int], raw: dict[str, Any], source: Source, out: Imported, feature: Feature | None = None
) -> Record:
    """Map one row's columns to inventory fields, parsing each value; a missing column or bad value is a problem."""
    record = Record(file, place, {}, source.fields, feature.geometry if feature else None)
    for fld, column in source.fields.items():
        value = raw.get(column)  # a GeoJSON feature may lack a property others have
        value = source.values.get(fld, {}).get(str(value).strip(), value)
        if value in ("", None):
            continue
        try:
            record.values[fld] = converted(fld, value)
        except ValueError as exc:
            out.problems.append(record.problem(str(exc), fld))
            record.unreadable.add(fld)
    for fld, value in source.defaults.items():
        record.values.setdefault(fld, value)
    return record


def checked(target: str, record: Record, entry: dict[str, Any], out: Imported) -> dict[str, Any] | None:
    """Validate an entry with the inventory's model; report each bad field in its source column."""
    try:
        MODELS[target].model_validate(entry)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            fld = str(err["loc"][0]) if err["loc"] else None
            if fld in record.unreadable:
                continue  # its parse error is reported; "field required" would repeat it
            got = "" if isinstance(err.get("input"), dict | list) else f" (got {err['input']!r})"
            message = err["msg"].removeprefix("Value error, ")
            out.problems.append(record.problem(f"{fld}: {message}{got}" if fld else message, fld))
        return None
    return entry


def area_entries(target: str, records: list[Record], out: Imported) -> Iterator[dict[str, Any]]:
    """Yield the grid cells, zones, sites or disposal sites of polygon features, each checked."""
    for record in records:
        entry, kind = dict(record.values), (record.geometry or {}).get("type")
        if kind in ("Polygon", "MultiPolygon"):
            entry["polygon"] = record.geometry
        elif target == "sites" and kind == "Point":
            entry.setdefault("lon", record.geometry["coordinates"][0])  # type: ignore[index]
            entry.setdefault("lat", record.geometry["coordinates"][1])  # type: ignore[index]
        else:
            out.problems.append(record.problem(f"geometry must be a Polygon or MultiPolygon, got {kind!r}"))
            continue
        if target == "sites" and not {"lon", "lat"} <= entry.keys():
            out.problems.append(record.problem("a site needs its monitor's lon / lat: map them, or use Point features"))
            continue
        if checked(target, record, entry, out) is not None:
            yield entry


def route_lines(records: list[Record], out: Imported) -> dict[str, list[list[float]]]:
    """Return each route's polyline by route id (a MultiLineString's parts joined in order)."""
    routes: dict[str, list[list[float]]] = {}
    for record in records:
        geometry, route_id = record.geometry or {}, str(record.values.get("route_id", ""))
        if route_id in routes:
            out.problems.append(record.problem(f"route {route_id!r} appears more than once", "route_id"))
        elif geometry.get("type") == "LineString":
            routes[route_id] = geometry["coordinates"]
        elif geometry.get("type") == "MultiLineString":
            routes[route_id] = _joined(geometry["coordinates"])
        else:
            kind = geometry.get("type")
            out.problems.append(record.problem(f"a route must be a LineString or MultiLineString, got {kind!r}"))
    return routes


def _joined(parts: list[list[list[float]]]) -> list[list[float]]:
    """Join a MultiLineString's parts end to end, dropping the repeated point where one ends and the next starts."""
    line: list[list[float]] = []
    for part in parts:
        line += part[1:] if line and part and line[-1] == part[0] else part
    return line
