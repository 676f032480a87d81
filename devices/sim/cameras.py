"""Simulated AI cameras: each ``camera`` injection is one typed event, at a place or where a truck is.

A camera takes part in a run when an injection names it; it must be one of the city's cameras
(``cameras.yaml``), since ingest refuses any other device. An event that names a truck carries the
truck's plate and is placed where the truck really is at that moment (the camera saw it there), so
fusion can match it with the truck's GPS.
"""

from __future__ import annotations

from collections.abc import Iterator

from devices.contracts import CameraEvent
from devices.inventory import City
from devices.sim.geo import LocalProjection
from devices.sim.injections import CameraSighting
from devices.sim.vehicles import TruckModel, true_position

TruckLookup = dict[str, TruckModel]


def camera_ids(sightings: list[CameraSighting]) -> list[str]:
    """Return the cameras of a scenario, in order of first appearance."""
    return list(dict.fromkeys(s.camera for s in sightings))


def _place(s: CameraSighting, trucks: TruckLookup, proj: LocalProjection) -> tuple[float, float]:
    if s.lon is not None and s.lat is not None:
        return s.lon, s.lat
    assert s.vehicle is not None
    x, y = true_position(trucks[s.vehicle], s.at_s)
    return proj.to_lonlat(float(x), float(y))


def camera_messages(
    camera: str, sightings: list[CameraSighting], city: City, trucks: TruckLookup, start_ms: int, seq0: int
) -> Iterator[CameraEvent]:
    """Yield one camera's events in time order."""
    proj = LocalProjection(*city.meta.center)
    mine = sorted((s for s in sightings if s.camera == camera), key=lambda s: s.at_s)
    for seq, s in enumerate(mine, start=seq0):
        ts_ms = start_ms + round(s.at_s * 1000)
        lon, lat = _place(s, trucks, proj)
        vehicle = city.vehicle_by_terminal.get(s.vehicle) if s.vehicle else None
        event_id = f"{camera}-{ts_ms}"
        yield CameraEvent(
            device_id=camera, ts_ms=ts_ms, seq=seq, event_id=event_id, event_type=s.event,
            lon=round(lon, 6), lat=round(lat, 6), confidence=s.confidence,
            plate=vehicle.plate if vehicle else None, image_ref=f"sim://{camera}/{event_id}.jpg",
        )  # fmt: skip
