"""Static map layers from the city data: the permitted muck-truck corridors and the district outlines, as GeoJSON."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from shapely import unary_union
from shapely.geometry import mapping, shape

from devices.areas import geojson
from devices.datum import Datum, from_wgs84
from devices.inventory import City

CORRIDORS_FILE, DISTRICTS_FILE = "corridors.geojson", "districts.geojson"


def _line(route: list[tuple[float, float]], datum: Datum) -> list[list[float]]:
    """Return a WGS-84 polyline in a datum, as [lon, lat] pairs."""
    if datum == "WGS-84":
        return [[lon, lat] for lon, lat in route]
    lon, lat = from_wgs84([p[0] for p in route], [p[1] for p in route], datum)
    return [[float(x), float(y)] for x, y in zip(lon, lat, strict=True)]


def corridors_geojson(city: City, datum: Datum = "WGS-84") -> dict[str, Any]:
    """Return the standing permits' routes as a GeoJSON FeatureCollection of LineStrings in ``datum`` (the base map's)."""
    features = [
        {
            "type": "Feature",
            "id": p.permit_id,
            "geometry": {"type": "LineString", "coordinates": _line(p.route, datum)},
            "properties": {
                "kind": "corridor",
                "permit_id": p.permit_id,
                "vehicle_id": p.vehicle_id,
                "corridor_m": p.corridor_m,
                "valid_to": p.valid_to.isoformat(),
            },
        }
        for p in city.permits
        if p.revoked_at is None
    ]
    return {"type": "FeatureCollection", "features": features}


def _rounded(coords: Any) -> Any:
    """Return nested coordinates rounded to 1e-6° (about 0.1 m): the union's float noise off."""
    if isinstance(coords[0], float | int):
        return [round(float(c), 6) for c in coords]
    return [_rounded(c) for c in coords]


def districts_geojson(city: City) -> dict[str, Any]:
    """Return each district's outline (the union of its 万米 grid cells) as a WGS-84 GeoJSON FeatureCollection."""
    cells: dict[str, list[Any]] = defaultdict(list)
    for cell in city.grid:
        cells[cell.district].append(shape(geojson(cell.polygon)))
    features = []
    for district, shapes in sorted(cells.items()):
        outline = mapping(unary_union(shapes))
        geometry = {"type": outline["type"], "coordinates": _rounded(outline["coordinates"])}
        properties = {"kind": "district", "district": district, "cells": len(shapes)}
        features.append({"type": "Feature", "id": district, "geometry": geometry, "properties": properties})
    return {"type": "FeatureCollection", "features": features}


def write_layers(city: City, datum: Datum, out: Path) -> list[Path]:
    """Write the corridors (in the base map's datum) and the district outlines (WGS-84: the tile-less map) to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in ((CORRIDORS_FILE, corridors_geojson(city, datum)), (DISTRICTS_FILE, districts_geojson(city))):
        path = out / name
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
