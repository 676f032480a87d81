"""Static map layers from the city data: the permitted muck-truck corridors as GeoJSON."""

from __future__ import annotations

from typing import Any

from devices.inventory import City


def corridors_geojson(city: City) -> dict[str, Any]:
    """Return the permit routes as a GeoJSON FeatureCollection of LineStrings (lon, lat)."""
    features = [
        {
            "type": "Feature",
            "id": p.permit_id,
            "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lon, lat in p.route]},
            "properties": {
                "kind": "corridor",
                "permit_id": p.permit_id,
                "vehicle_id": p.vehicle_id,
                "corridor_m": p.corridor_m,
                "valid_to": p.valid_to.isoformat(),
            },
        }
        for p in city.permits
    ]
    return {"type": "FeatureCollection", "features": features}
