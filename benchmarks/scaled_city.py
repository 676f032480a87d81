"""A city scaled to a fleet of N muck trucks, and positions of that fleet, for benchmarks that need many devices.

``scale_city`` copies a city directory and replaces its muck trucks (and their permits) with N
clones of them: new vehicle ids, plates, terminal ids and permit ids, the same routes, corridors
and sites. The clones' permits have no hours (``windows: []``), so every clone may run at any time
of day and a benchmark measures state, not an alert storm that depends on the hour. Garbage
trucks, sites, cameras and the other files are kept as they are.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from citywatch.city import load_city
from devices.contracts import LoadState, VehiclePosition
from devices.inventory import City, Permit
from devices.sim.geo import LocalProjection
from devices.sim.geo import Path as Track

FIX_INTERVAL_MS = 10_000
SPEED_KMH = 30.0  # below every limit the demo's roads set for muck trucks
YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when built with it: 10,000 trucks in seconds


def clone_ids(i: int) -> dict[str, str]:
    """Return the ids of clone number ``i`` (unique, valid device ids)."""
    return {
        "vehicle_id": f"MX{i:05d}",
        "plate": f"鄂A·X{i:05d}",
        "terminal_id": f"gps-mx{i:05d}",
        "permit_id": f"ZY-BENCH-{i:05d}",
        "jt808_phone": f"147{i:08d}",
    }


def clone_fleet(
    vehicles: list[dict[str, Any]], permits: list[dict[str, Any]], trucks: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the vehicles and permits with the muck trucks replaced by ``trucks`` clones."""
    muck = [v for v in vehicles if v["kind"] == "muck"]
    if not muck:
        raise ValueError("the city has no muck trucks to clone")
    permit_of = {p["vehicle_id"]: p for p in permits}
    muck_ids = {v["vehicle_id"] for v in muck}
    new_vehicles = [v for v in vehicles if v["vehicle_id"] not in muck_ids]
    new_permits = [p for p in permits if p["vehicle_id"] not in muck_ids]
    for i in range(trucks):
        model, ids = muck[i % len(muck)], clone_ids(i)
        new_vehicles.append({**model, **{k: ids[k] for k in ("vehicle_id", "plate", "terminal_id", "jt808_phone")}})
        new_permits.append(
            {
                **permit_of[model["vehicle_id"]],
                "permit_id": ids["permit_id"],
                "vehicle_id": ids["vehicle_id"],
                "windows": [],
            }
        )
    return new_vehicles, new_permits


def scale_city(source: Path, target: Path, trucks: int) -> City:
    """Write a copy of the city at ``source`` with ``trucks`` muck trucks to ``target``; return it loaded."""
    shutil.copytree(source, target)
    vehicles = yaml.safe_load((source / "vehicles.yaml").read_text(encoding="utf-8"))
    permits = yaml.safe_load((source / "permits.yaml").read_text(encoding="utf-8"))
    vehicles, permits = clone_fleet(vehicles, permits, trucks)
    _dump(target / "vehicles.yaml", vehicles)
    _dump(target / "permits.yaml", permits)
    return load_city(target)


def _dump(path: Path, entries: list[dict[str, Any]]) -> None:
    """Write a list of entries as YAML (dates stay dates, Chinese text stays readable)."""
    path.write_text(
        yaml.dump(entries, Dumper=YAML_DUMPER, allow_unicode=True, sort_keys=False, width=200), encoding="utf-8"
    )


def fleet_positions(city: City, fixes: int, end_ms: int) -> list[VehiclePosition]:
    """Return ``fixes`` positions of every permitted truck on its route, 10 s apart up to ``end_ms``, round by round."""
    proj = LocalProjection(*city.meta.center)
    tracks = [
        (v.terminal_id, _track(city.permit_by_vehicle[v.vehicle_id], proj, i, fixes))
        for i, v in enumerate(city.vehicles)
        if v.vehicle_id in city.permit_by_vehicle
    ]
    start_ms = end_ms - (fixes - 1) * FIX_INTERVAL_MS
    return [
        VehiclePosition(
            device_id=device,
            ts_ms=start_ms + k * FIX_INTERVAL_MS,
            seq=k,
            lon=lon,
            lat=lat,
            speed_kmh=SPEED_KMH,
            heading_deg=heading,
            load_state=LoadState.FULL,
            cover_closed=True,
            body_lifted=False,
        )
        for k in range(fixes)
        for device, points in tracks
        for lon, lat, heading in points[k : k + 1]
    ]


def _track(permit: Permit, proj: LocalProjection, i: int, fixes: int) -> list[tuple[float, float, float]]:
    """Return (lon, lat, heading) of ``fixes`` points along a permit's route, each truck starting elsewhere on it."""
    route = Track.from_lonlat(permit.route, proj)
    step_m = SPEED_KMH / 3.6 * FIX_INTERVAL_MS / 1000
    start_m = (i * 97.0) % max(route.length - step_m * fixes, 1.0)
    points = []
    for k in range(fixes):
        s = start_m + k * step_m
        x, y = route.point_at(s)
        lon, lat = proj.to_lonlat(float(x), float(y))
        points.append((lon, lat, route.heading_at(s)))
    return points
