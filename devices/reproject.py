"""Bring a city's data files to WGS-84 once, at load, from the datum each file declares.

``city.yaml`` says which datum (坐标系) its files are in: ``datum`` for all of them (WGS-84 if absent)
and ``datums`` for the exceptions, e.g. ``grid.geojson: GCJ-02`` for a grid drawn on an AMap base map.
The loader validates the files as they are, then converts every coordinate of a file in one vectorised
call and validates again: rules, maps and tickets only ever see WGS-84, like the terminals report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from devices.datum import Datum, to_wgs84

GEOMETRY_KEYS = frozenset({"center", "round", "route", "polygon", "exits", "wash_stations", "polyline"})
"""Fields holding points, lines or areas as nested (lon, lat) lists; ``lon`` / ``lat`` pairs are converted too."""


def _is_point(value: Any) -> bool:
    """Tell whether a value is one (lon, lat) pair."""
    return isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value)


def _points(value: Any) -> Iterator[Any]:
    """Yield every (lon, lat) pair of a nested geometry value, depth first."""
    if _is_point(value):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _points(item)


def _rebuilt(value: Any, converted: Iterator[tuple[float, float]]) -> Any:
    """Return a nested geometry value with each pair replaced by the next converted one, in ``_points`` order."""
    if _is_point(value):
        return next(converted)
    if isinstance(value, list | tuple):
        return [_rebuilt(item, converted) for item in value]
    return value


def _geometry_keys(entry: dict[str, Any]) -> list[str]:
    """Return the entry's geometry fields that hold a value, in a fixed order."""
    return [k for k in sorted(GEOMETRY_KEYS & entry.keys()) if entry[k] is not None]


def _geometry_of(entry: dict[str, Any]) -> list[Any]:
    """Return the geometry values of one entry: its geometry fields and its (lon, lat), in a fixed order."""
    values: list[Any] = [entry[k] for k in _geometry_keys(entry)]
    return [*values, (entry["lon"], entry["lat"])] if {"lon", "lat"} <= entry.keys() else values


def _with_geometry(entry: dict[str, Any], values: list[Any]) -> dict[str, Any]:
    """Return an entry with its geometry values (``_geometry_of`` order) replaced."""
    out = dict(entry)
    out.update(zip(_geometry_keys(entry), values, strict=False))
    if {"lon", "lat"} <= entry.keys():
        out["lon"], out["lat"] = values[-1]
    return out


def entries_to_wgs84(entries: list[dict[str, Any]], datum: Datum) -> list[dict[str, Any]]:
    """Return a file's entries with every coordinate converted from ``datum`` to WGS-84 (one numpy call)."""
    geometry = [_geometry_of(e) for e in entries]
    pairs = np.array([p for g in geometry for p in _points(g)], dtype=np.float64).reshape(-1, 2)
    lon, lat = to_wgs84(pairs[:, 0], pairs[:, 1], datum)
    converted = iter(zip(lon.tolist(), lat.tolist(), strict=True))
    return [_with_geometry(e, _rebuilt(g, converted)) for e, g in zip(entries, geometry, strict=True)]


def parts_to_wgs84(parts: dict[str, Any], datum_of: Callable[[str], Datum]) -> dict[str, Any]:
    """Return a city's parts (``meta``, ``vehicles``, ...) in WGS-84; ``datum_of`` gives each part's datum."""
    out = dict(parts)
    for key, value in parts.items():
        datum = datum_of(key)
        if datum in ("WGS-84", "CGCS2000") or not value:
            continue
        out[key] = entries_to_wgs84([value], datum)[0] if isinstance(value, dict) else entries_to_wgs84(value, datum)
    return out
