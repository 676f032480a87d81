"""Areas as the inventory keeps them: one or more polygons, each an exterior ring and its holes.

GIS exports give a grid cell, a site or a zone as a GeoJSON ``Polygon`` (an exterior ring and holes)
or ``MultiPolygon`` (several such polygons); hand-written YAML gives one ring. ``Area`` accepts all
three, and a GeoJSON geometry object, and keeps them in one shape: parts, each a list of rings, the
exterior first. Containment is the even-odd rule over every ring of every part, which is exactly
"inside an exterior and outside its holes" for valid polygons (parts do not overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from devices.contracts import Lat, Lon

Point = tuple[Lon, Lat]
Ring = Annotated[list[Point], Field(min_length=3, description="closing point optional")]
Part = Annotated[list[Ring], Field(min_length=1, description="exterior ring, then its holes")]
RingLike = Sequence[Sequence[float]]
AreaRings = list[list[list[Point]]]


def _depth(value: Any) -> int:
    """Return how deeply lists nest above the first number (a point is 1, a ring 2, a polygon 3)."""
    depth = 0
    while isinstance(value, list | tuple) and value:
        value, depth = value[0], depth + 1
    return depth


def as_parts(value: Any) -> Any:
    """Return a ring, a polygon's rings, a multipolygon's parts or a GeoJSON geometry as parts of rings."""
    if isinstance(value, dict):
        kind, coordinates = value.get("type"), value.get("coordinates")
        if kind == "Polygon":
            return [coordinates]
        if kind == "MultiPolygon":
            return coordinates
        raise ValueError(f"a geometry must be a Polygon or MultiPolygon, got {kind!r}")
    depth = _depth(value)
    if depth == 2:  # one ring
        return [[value]]
    return [value] if depth == 3 else value  # a polygon's rings; else parts already


def _distinct_rings(parts: AreaRings) -> AreaRings:
    """Refuse a ring with fewer than three distinct points (it bounds no area)."""
    for p, part in enumerate(parts):
        for r, ring in enumerate(part):
            if len(set(ring)) < 3:
                raise ValueError(f"part {p}, ring {r}: a ring needs three distinct (lon, lat) points")
    return parts


Area = Annotated[
    list[Part],
    BeforeValidator(as_parts),
    AfterValidator(_distinct_rings),
    Field(min_length=1, description="a ring, [exterior, *holes], [[exterior, *holes], ...] or a GeoJSON geometry"),
]


def rings(area: Sequence[Sequence[RingLike]]) -> list[RingLike]:
    """Return every ring of every part: what the even-odd rule counts."""
    return [ring for part in area for ring in part]


def exteriors(area: Sequence[Sequence[RingLike]]) -> list[RingLike]:
    """Return the exterior ring of each part."""
    return [part[0] for part in area]


def exterior(area: Sequence[Sequence[RingLike]]) -> RingLike:
    """Return the first part's exterior ring (a site's or zone's outline for the simulator)."""
    return area[0][0]


def geojson(area: Sequence[Sequence[RingLike]]) -> dict[str, Any]:
    """Return the area as a GeoJSON geometry: a Polygon for one part, else a MultiPolygon."""
    parts = [[[list(pt) for pt in ring] for ring in part] for part in area]
    return (
        {"type": "Polygon", "coordinates": parts[0]}
        if len(parts) == 1
        else {"type": "MultiPolygon", "coordinates": parts}
    )
