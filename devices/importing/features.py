"""Read a bureau's GIS export (GeoJSON or ESRI Shapefile) into numbered features with checked geometry.

Geometry comes back GeoJSON-style, ``{"type": ..., "coordinates": ...}``, as plain lists of [lon, lat] floats
(any Z or M dropped); a Polygon is ``[exterior, *holes]``. Features are numbered from 1 in file order. Every
faulty feature is reported, by number, in one ``ImportFailed``.
"""

from __future__ import annotations

import codecs
import io
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapefile  # type: ignore[import-untyped]

from devices.importing.problems import ImportFailed, Problem, shown
from devices.importing.tables import decode_text, known_encoding, read_bytes

SUPPORTED_TYPES = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
_GBK_LABELS = frozenset(
    {"GBK", "936", "CP936", "MS936", "ANSI 936", "GB2312", "GB_2312", "GB_2312-80", "EUC-CN", "GB18030", "54936"}
)
_UTF8_LABELS = frozenset({"UTF-8", "UTF8", "UTF_8", "65001", "CP65001"})
_SIDECARS = {".shx": "the shape index", ".dbf": "the attribute table"}
_WKT_NAME = re.compile(r'\s*[A-Za-z_]+\s*\[\s*"([^"]+)"')
_UNREADABLE = (shapefile.ShapefileException, struct.error, ValueError, KeyError, IndexError, EOFError)


@dataclass(frozen=True)
class Feature:
    """One feature: its 1-based number in the file, its attributes and its GeoJSON-style geometry."""

    number: int
    properties: dict[str, Any]
    geometry: dict[str, Any]


@dataclass(frozen=True)
class FeatureSet:
    """The features of one file, and its coordinate system's name if the file states one (a hint)."""

    file: str
    features: tuple[Feature, ...]
    crs: str | None


class _Invalid(Exception):
    """What is wrong with one feature."""


def read_features(path: Path, *, encoding: str | None = None) -> FeatureSet:
    """Read a .geojson/.json or .shp export; raise ImportFailed listing every problem, by feature number."""
    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        return _read_geojson(path, encoding)
    if suffix == ".shp":
        return _read_shapefile(path, encoding)
    raise ImportFailed.of(str(path), f"unsupported file type {suffix!r}: expected .geojson, .json or .shp")


def _read_geojson(path: Path, encoding: str | None) -> FeatureSet:
    file = str(path)
    document = _parse_json(file, decode_text(file, read_bytes(path), encoding))
    raws = _raw_features(file, document)
    outcomes = [_attempt(file, number, _geojson_feature, number, raw) for number, raw in enumerate(raws, 1)]
    return _feature_set(file, outcomes, _geojson_crs(document))


def _parse_json(file: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise ImportFailed.of(file, f"not valid JSON: {error.msg} at {where}") from None
    except RecursionError:
        raise ImportFailed.of(file, "not readable JSON: nested too deeply") from None


def _raw_features(file: str, document: Any) -> list[Any]:
    kind = document.get("type") if isinstance(document, dict) else None
    if kind == "Feature":
        return [document]
    if kind == "FeatureCollection" and isinstance(document.get("features"), list):
        return list(document["features"])
    got = f"its 'features' is {shown(document.get('features'))}" if kind == "FeatureCollection" else _kind(document)
    raise ImportFailed.of(file, f"expected a GeoJSON FeatureCollection or Feature, but {got}")


def _geojson_feature(number: int, raw: Any) -> Feature:
    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        raise _Invalid(f"not a GeoJSON Feature: {_kind(raw)}")
    properties = raw.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise _Invalid(f"its properties are not an object (got {shown(properties)})")
    return Feature(number, _cleaned(properties or {}), _geometry(raw.get("geometry")))


def _geojson_crs(document: Any) -> str | None:
    crs = document.get("crs") if isinstance(document, dict) else None
    properties = crs.get("properties") if isinstance(crs, dict) else None
    name = properties.get("name") if isinstance(properties, dict) else None
    return (name.strip() or None) if isinstance(name, str) else None


def _read_shapefile(path: Path, encoding: str | None) -> FeatureSet:
    file = str(path)
    parts = {".shp": read_bytes(path), **_sidecar_bytes(path)}
    encodings, source = _attribute_encodings(path, encoding)
    return _feature_set(file, _decode_shapefile(file, parts, encodings, source), _prj_name(path))


def _sidecar(path: Path, suffix: str) -> Path | None:
    candidates = (path.with_suffix(suffix), path.with_suffix(suffix.upper()))
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def _sidecar_bytes(path: Path) -> dict[str, bytes]:
    found = {suffix: _sidecar(path, suffix) for suffix in _SIDECARS}
    missing = [
        Problem(str(path), f"{path.with_suffix(suffix).name} ({_SIDECARS[suffix]}) is missing; a shapefile needs it")
        for suffix, sidecar in found.items()
        if sidecar is None
    ]
    if missing:
        raise ImportFailed(missing)
    return {suffix: read_bytes(sidecar) for suffix, sidecar in found.items() if sidecar is not None}


def _attribute_encodings(path: Path, encoding: str | None) -> tuple[list[str], str]:
    """The encodings to try on the .dbf's text, and where they come from."""
    if encoding:
        return [known_encoding(str(path), encoding).removesuffix("-sig")], "the encoding given"
    cpg = _sidecar(path, ".cpg")
    codec = _cpg_codec(cpg.read_bytes().decode("ascii", "replace")) if cpg is not None else None
    if cpg is not None and codec is not None:
        return [codec], f"from {cpg.name}"
    return ["utf-8", "gb18030"], "guessed: UTF-8, else GB18030 (a superset of GBK)"


def _cpg_codec(label: str) -> str | None:
    """The codec a .cpg names: GBK and kin -> gb18030, UTF-8 -> utf-8, "ANSI 1252"/"1252" -> cp1252; else None."""
    label = label.strip().upper()
    if label in _GBK_LABELS:
        return "gb18030"
    if label in _UTF8_LABELS:
        return "utf-8"
    number = label.removeprefix("ANSI").strip()
    try:
        return codecs.lookup(f"cp{number}" if number.isdigit() else label).name
    except LookupError:
        return None


def _decode_shapefile(file: str, parts: dict[str, bytes], encodings: list[str], source: str) -> list[Feature | Problem]:
    failure = ""
    for encoding in encodings:
        try:
            return _shapefile_outcomes(file, parts, encoding)
        except shapefile.dbfFileException as error:  # the attribute text does not decode (or the .dbf is damaged)
            failure = str(error)
        except _UNREADABLE as error:
            raise ImportFailed.of(file, f"not a readable shapefile ({type(error).__name__}: {error})") from None
    tried = " and ".join(encodings)
    raise ImportFailed.of(
        file, f"cannot read the attribute table as {tried} ({source}): {failure}; give the right encoding"
    )


def _shapefile_outcomes(file: str, parts: dict[str, bytes], encoding: str) -> list[Feature | Problem]:
    streams = {suffix.lstrip("."): io.BytesIO(content) for suffix, content in parts.items()}
    reader = shapefile.Reader(shp=streams["shp"], shx=streams["shx"], dbf=streams["dbf"], encoding=encoding)
    with reader:
        shapes = list(reader.iterShapes())
        records = list(reader.iterRecords(deleted_as_None=True))
    outcomes = [
        _attempt(file, number, _shape_feature, number, shape, record)
        for number, (shape, record) in enumerate(zip(shapes, records, strict=False), 1)
        if record is not None  # a record deleted in the .dbf: its feature is gone
    ]
    if len(shapes) != len(records):
        outcomes.append(Problem(file, f"the .shp has {len(shapes)} shapes but the .dbf has {len(records)} records"))
    return outcomes


def _shape_feature(number: int, shape: shapefile.Shape | None, record: shapefile._Record) -> Feature:
    if shape is None or shape.shapeType == shapefile.NULL:
        raise _Invalid("null shape: the feature has no geometry")
    try:
        raw = shape.__geo_interface__
    except shapefile.GeoJSON_Error as error:
        raise _Invalid(str(error)) from None
    return Feature(number, _cleaned(record.as_dict()), _geometry(raw))


def _prj_name(path: Path) -> str | None:
    """The coordinate system's name from the .prj's WKT, e.g. GCS_China_Geodetic_Coordinate_System_2000."""
    prj = _sidecar(path, ".prj")
    match = _WKT_NAME.match(prj.read_bytes().decode("utf-8-sig", "replace")) if prj is not None else None
    return (match.group(1).strip() or None) if match else None


def _geometry(raw: Any) -> dict[str, Any]:
    if raw is None:
        raise _Invalid("no geometry (it is missing or null)")
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind not in SUPPORTED_TYPES:
        raise _Invalid(f"unsupported geometry {_kind(raw)}; expected one of {', '.join(SUPPORTED_TYPES)}")
    if "coordinates" not in raw:
        raise _Invalid(f"the {kind} has no coordinates")
    return {"type": kind, "coordinates": _COORDINATES[kind](raw["coordinates"])}


def _polygon(value: Any, name: str = "the polygon") -> list[list[list[float]]]:
    rings = _parts(value, name, "ring")
    return [_ring(ring, f"{'exterior ring' if i == 0 else f'hole {i}'} of {name}") for i, ring in enumerate(rings)]


def _multi(read: Callable[[Any, str], Any], whole: str, part: str) -> Callable[[Any], list[Any]]:
    """A reader of a Multi* geometry's coordinates: each part read by ``read``, named by its number."""
    return lambda value: [read(item, f"{part} {i}") for i, item in enumerate(_parts(value, whole, part), 1)]


def _line(value: Any, name: str = "the line") -> list[list[float]]:
    return _positions(value, name, minimum=2)


def _ring(value: Any, name: str) -> list[list[float]]:
    ring = _positions(value, name, minimum=4, closing=" (the closing point included)")
    if len({tuple(point) for point in ring}) < 3:
        raise _Invalid(f"{name} has fewer than 3 distinct points")
    if ring[0] != ring[-1]:
        raise _Invalid(f"{name} is not closed: it starts at {ring[0]} but ends at {ring[-1]}")
    return ring


def _parts(value: Any, name: str, part: str) -> list[Any]:
    if not isinstance(value, list | tuple) or not value:
        raise _Invalid(f"{name} has no {part}s (got {shown(value)})")
    return list(value)


def _positions(value: Any, name: str, *, minimum: int, closing: str = "") -> list[list[float]]:
    if not isinstance(value, list | tuple):
        raise _Invalid(f"{name} is not a list of positions (got {shown(value)})")
    points = [_position(point, f"point {i} of {name}") for i, point in enumerate(value, 1)]
    if len(points) < minimum:
        plural = "" if len(points) == 1 else "s"
        raise _Invalid(f"{name} has {len(points)} point{plural}; it needs at least {minimum}{closing}")
    return points


def _position(value: Any, name: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise _Invalid(f"{name} is not a [lon, lat] position (got {shown(value)})")
    return [_coordinate(number, name) for number in value[:2]]


def _coordinate(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{name} has a non-numeric coordinate (got {shown(value)})")
    if not math.isfinite(value):
        raise _Invalid(f"{name} has a non-finite coordinate (got {value})")
    return float(value)


_COORDINATES: dict[str, Callable[[Any], Any]] = {
    "Point": lambda value: _position(value, "the point"),
    "LineString": _line,
    "MultiLineString": _multi(_line, "the multilinestring", "line"),
    "Polygon": _polygon,
    "MultiPolygon": _multi(_polygon, "the multipolygon", "polygon"),
}


def _attempt(file: str, number: int, build: Callable[..., Feature], *args: Any) -> Feature | Problem:
    try:
        return build(*args)
    except _Invalid as fault:
        return Problem(file, str(fault), feature=number)


def _feature_set(file: str, outcomes: list[Feature | Problem], crs: str | None) -> FeatureSet:
    problems = [outcome for outcome in outcomes if isinstance(outcome, Problem)]
    if problems:
        raise ImportFailed(problems)
    return FeatureSet(file, tuple(outcome for outcome in outcomes if isinstance(outcome, Feature)), crs)


def _cleaned(properties: dict[str, Any]) -> dict[str, Any]:
    return {str(key): value.strip() if isinstance(value, str) else value for key, value in properties.items()}


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return f"type {value.get('type')!r}" if "type" in value else "an object without a 'type'"
    return f"a JSON {type(value).__name__}" if value is not None else "null"
