"""Static map layers from the city data: the permitted muck-truck corridors as GeoJSON."""

from __future__ import annotations

from typing import Any

from devices.datum import Datum, from_wgs84
from devices.inventory import City


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
