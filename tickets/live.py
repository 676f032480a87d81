"""The console's live read model: where every vehicle is, how full every station is, site dust.

Fed by the embedded runner (it is a runner tap: ``on_batch``) or, in the stack, by
``KafkaLiveFeed`` reading the event topics. Keeps each device's latest message and a bounded
recent history (tracks, fill and PM10 series) for case detail and evidence verification.
Thread-safe; nothing here is durable (tracks belong to the time-series store).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from devices.areas import rings
from devices.contracts import (
    DeviceStatus,
    FacilityReading,
    Message,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City
from rules.params import params_of
from tickets.verification import Dwell, Fix, dwells

KEEP_MS = 3 * 3_600_000
MAX_POINTS = 4000


class LiveView:
    """Latest state and recent history per device."""

    def __init__(self, city: City | None = None, keep_ms: int = KEEP_MS) -> None:
        self.city = city
        self.keep_ms = keep_ms
        self._lock = threading.Lock()
        self.latest: dict[str, Message] = {}
        self.online: dict[str, bool] = {}
        self._heard_ms: dict[str, int] = {}  # newest status or telemetry time of each device
        self.tracks: dict[str, deque[Fix]] = {}
        self.series: dict[str, deque[tuple[int, float]]] = {}

    def latest_messages(self) -> list[Message]:
        """Return each device's latest telemetry (a copy, safe while the runner adds)."""
        with self._lock:
            return list(self.latest.values())

    def on_batch(self, events: list[Message], alerts: list[Any]) -> None:
        """Take a processed batch from the embedded runner."""
        self.add_all(events)

    def add_all(self, events: Iterable[Message]) -> None:
        """Add events (any kind, any order within a device's recent history)."""
        with self._lock:
            for e in events:
                self._add(e)

    def _add(self, e: Message) -> None:
        if isinstance(e, DeviceStatus):  # the newer of a status and the last telemetry says whether it is online
            if e.ts_ms >= self._heard_ms.get(e.device_id, -1):
                self.online[e.device_id] = e.state == "online"
                self._heard_ms[e.device_id] = e.ts_ms
            return
        prev = self.latest.get(e.device_id)
        if prev is None or prev.ts_ms <= e.ts_ms:
            self.latest[e.device_id] = e
        if e.ts_ms >= self._heard_ms.get(e.device_id, -1):  # telemetry after an offline status (a device
            self.online[e.device_id] = True  # without a birth message, a stale last will): it is online
            self._heard_ms[e.device_id] = e.ts_ms
        if isinstance(e, VehiclePosition):
            self._keep(self.tracks, e.device_id, Fix(e.ts_ms, e.lon, e.lat, e.speed_kmh))
        elif isinstance(e, FacilityReading):
            self._keep(self.series, e.device_id, (e.ts_ms, e.fill_ratio))
        elif isinstance(e, SiteReading):
            self._keep(self.series, e.device_id, (e.ts_ms, e.pm10_ugm3))

    def _keep(self, store: dict[str, deque[Any]], device: str, item: Any) -> None:
        buf = store.setdefault(device, deque(maxlen=MAX_POINTS))
        buf.append(item)
        newest = max(_ts(buf[-1]), _ts(item))
        while buf and _ts(buf[0]) < newest - self.keep_ms:
            buf.popleft()

    def track(self, device: str, from_ms: int, to_ms: int) -> list[Fix]:
        """Return a vehicle's positions between two times, in time order."""
        with self._lock:
            fixes = list(self.tracks.get(device, ()))
        return sorted((f for f in fixes if from_ms <= f.ts_ms <= to_ms), key=lambda f: f.ts_ms)

    def readings(self, device: str, from_ms: int, to_ms: int) -> list[tuple[int, float]]:
        """Return a facility's fill ratios or a site's PM10 values between two times."""
        with self._lock:
            values = list(self.series.get(device, ()))
        return sorted(v for v in values if from_ms <= v[0] <= to_ms)

    def visits(
        self,
        lon: float,
        lat: float,
        radius_m: float,
        min_ms: int,
        from_ms: int,
        to_ms: int,
        devices: Sequence[str] | None = None,
    ) -> list[Dwell]:
        """Return the vehicle dwells near a place between two times (collection trucks if known)."""
        with self._lock:
            names = list(devices) if devices is not None else list(self.tracks)
        found: list[Dwell] = []
        for d in names:
            found += dwells(d, self.track(d, from_ms, to_ms), lon, lat, radius_m, min_ms)
        return found

    def garbage_trucks(self) -> list[str] | None:
        """Return the terminal ids of collection trucks (None: unknown, look at every vehicle)."""
        if self.city is None:
            return None
        return [v.terminal_id for v in self.city.vehicles if v.kind == "garbage"]

    def snapshot(self) -> dict[str, Any]:
        """Return every device's latest state for the console map."""
        with self._lock:
            latest, online = dict(self.latest), dict(self.online)
        return {
            "vehicles": [_vehicle(m, online, self.city) for m in latest.values() if isinstance(m, VehiclePosition)],
            "facilities": [_facility(m, online, self.city) for m in latest.values() if isinstance(m, FacilityReading)],
            "sites": [_site(m, online, self.city) for m in latest.values() if isinstance(m, SiteReading)],
        }


def _ts(item: Any) -> int:
    return int(item.ts_ms if isinstance(item, Fix) else item[0])


def _vehicle(p: VehiclePosition, online: dict[str, bool], city: City | None) -> dict[str, Any]:
    v = city.vehicle_by_terminal.get(p.device_id) if city else None
    return {
        "device_id": p.device_id,
        "plate": v.plate if v else None,
        "kind": v.kind if v else None,
        "company": v.company if v else None,
        "ts_ms": p.ts_ms,
        "lon": p.lon,
        "lat": p.lat,
        "speed_kmh": p.speed_kmh,
        "heading_deg": p.heading_deg,
        "load_state": str(p.load_state.value),
        "cover_closed": p.cover_closed,
        "online": online.get(p.device_id, True),
    }


def _facility(r: FacilityReading, online: dict[str, bool], city: City | None) -> dict[str, Any]:
    f = city.facility_by_device.get(r.device_id) if city else None
    bands = params_of(city).overflow if city else None
    band = "normal"
    if bands is not None and r.fill_ratio >= bands.severe_ratio:
        band = "severe"
    elif bands is not None and r.fill_ratio >= bands.slight_ratio:
        band = "slight"
    return {
        "device_id": r.device_id,
        "name": f.name if f else r.device_id,
        "kind": f.kind if f else None,
        "lon": f.lon if f else None,
        "lat": f.lat if f else None,
        "ts_ms": r.ts_ms,
        "fill_ratio": r.fill_ratio,
        "band": band,
        "online": online.get(r.device_id, True),
    }


def _site(r: SiteReading, online: dict[str, bool], city: City | None) -> dict[str, Any]:
    s = city.site_by_device.get(r.device_id) if city else None
    return {
        "device_id": r.device_id,
        "name": s.name if s else r.device_id,
        "lon": s.lon if s else None,
        "lat": s.lat if s else None,
        "ts_ms": r.ts_ms,
        "pm10_ugm3": r.pm10_ugm3,
        "noise_dba": r.noise_dba,
        "online": online.get(r.device_id, True),
    }


def city_map(city: City | None) -> dict[str, Any]:
    """Return the static map layers: centre, permit routes, garbage rounds, facilities, sites, grid."""
    if city is None:
        return {"center": None, "routes": [], "rounds": [], "facilities": [], "sites": [], "grid": []}
    return {
        "name": city.meta.name,
        "center": list(city.meta.center),
        "routes": [
            {"id": p.permit_id, "vehicle_id": p.vehicle_id, "points": [list(pt) for pt in p.route]}
            for p in city.permits
        ],
        "rounds": [{"id": v.vehicle_id, "points": [list(pt) for pt in v.round]} for v in city.vehicles if v.round],
        "facilities": [
            {"device_id": f.device_id, "name": f.name, "kind": f.kind, "lon": f.lon, "lat": f.lat}
            for f in city.facilities
        ],
        "sites": [{"device_id": s.device_id, "name": s.name, "lon": s.lon, "lat": s.lat} for s in city.sites],
        "grid": [
            {
                "code": c.code,
                "unit": getattr(c, "unit", None),
                "rings": [[list(pt) for pt in ring] for ring in rings(c.polygon)],
            }
            for c in getattr(city, "grid", None) or ()
        ],
    }
