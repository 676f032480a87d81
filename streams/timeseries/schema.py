"""The InfluxDB schema: one measurement per kind of thing, bounded tags, values as fields, ms precision.

Tags are metadata with a bounded set of values (kind, company, district, rule, ...). ``device_id``
(and ``subject`` for alerts / tickets) is a tag on purpose: points of two devices in the same
millisecond must not share a series key (they would overwrite each other), and the live map
needs the last point per device. Its cardinality is the size of the inventory, not of the
traffic. Counters and ids that grow with traffic (``seq``, ``alert_id``, ``event_id``,
``ticket_id``) are fields, never tags.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from influxdb_client import Point, WritePrecision

from devices.contracts import (
    CameraEvent,
    DeviceStatus,
    FacilityReading,
    Message,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City
from devices.schedules import TimeWindow
from rules.alerts import Alert
from rules.geometry import point_in_shape
from rules.params import RuleParams, params_of

POSITION, FACILITY, SITE, BACKGROUND, CAMERA, STATUS, ALERT, TICKET = (
    "position",
    "facility",
    "site",
    "background_pm10",
    "camera_event",
    "device_status",
    "alert",
    "ticket",
)
MEASUREMENTS = (POSITION, FACILITY, SITE, BACKGROUND, CAMERA, STATUS, ALERT, TICKET)
BACKGROUND_KIND = "background"  # the device kind of an ambient PM10 station (背景站)
UNKNOWN = "unknown"
NONE = "none"  # a tag that does not apply (e.g. the company of a construction-site monitor)
IDLE_SPEED_KMH = 1.0


@dataclass(frozen=True)
class SiteLimits:
    """Boundary limits of a construction site: PM10 and noise by day and by night, and the night itself."""

    pm10_ugm3: float
    noise_day_dba: float
    noise_night_dba: float
    night: TimeWindow

    @classmethod
    def from_rules(cls, rules: RuleParams) -> SiteLimits:
        """Return the limits the city's rules judge by (``city.yaml`` → ``rules``), so the charts show them."""
        return cls(rules.pm10.warn_ugm3, rules.noise.day_limit_dba, rules.noise.night_limit_dba, rules.noise.night)


@dataclass(frozen=True)
class DeviceTags:
    """The bounded metadata of one device, as InfluxDB tags."""

    device_kind: str
    district: str
    company: str = NONE
    kind: str = NONE  # vehicle: garbage / muck; facility: station / bin
    place: str = NONE  # facility_id or site_id
    lon: float | None = None  # where a fixed device is (facility, site), for the map
    lat: float | None = None


def _plain(text: str) -> str:
    """Return text on one line (a raw newline would end a line-protocol record)."""
    return text.replace("\r", " ").replace("\n", " ")


def city_district(city: City) -> str:
    """Return the city's default district: its grid's only district code, else its name without the note."""
    codes = {str(cell.district) for cell in getattr(city, "grid", None) or []}
    if len(codes) == 1:
        return codes.pop()
    return city.meta.name.split(" (")[0].strip() or UNKNOWN


def grid_district(city: City, lon: float, lat: float) -> str | None:
    """Return the district code of the grid cell (万米单元网格) containing a point, if any."""
    for cell in getattr(city, "grid", None) or []:
        if point_in_shape(lon, lat, cell.polygon):
            return str(cell.district)
    return None


class Tagger:
    """Looks up the tags of a device in the city inventory (unknown devices get ``unknown``)."""

    def __init__(self, city: City, limits: SiteLimits | None = None) -> None:
        self.given_limits = limits
        self.use(city)

    def use(self, city: City) -> None:
        """Tag by a new city version from now on (new devices, companies, districts)."""
        self.city = city
        self.zone = ZoneInfo(city.meta.timezone)
        self.default_limits = self.given_limits or SiteLimits.from_rules(params_of(city))
        self.district = city_district(city)
        self._tags = self._build()

    def _district(self, item: Any) -> str:
        """Return an item's district: its own, else the grid cell's it stands in, else the city's."""
        lon, lat = getattr(item, "lon", None), getattr(item, "lat", None)
        cell = grid_district(self.city, lon, lat) if lon is not None and lat is not None else None
        return str(getattr(item, "district", None) or cell or self.district)

    def _build(self) -> dict[str, DeviceTags]:
        tags: dict[str, DeviceTags] = {}
        for v in self.city.vehicles:
            tags[v.terminal_id] = DeviceTags("vehicle", self._district(v), v.company, v.kind, v.vehicle_id)
        for f in self.city.facilities:
            tags[f.device_id] = DeviceTags(
                "facility", self._district(f), kind=f.kind, place=f.facility_id, lon=f.lon, lat=f.lat
            )
        for s in self.city.sites:
            tags[s.device_id] = DeviceTags("site", self._district(s), place=s.site_id, lon=s.lon, lat=s.lat)
        for b in getattr(self.city, "background_stations", None) or []:
            tags[b.device_id] = DeviceTags(BACKGROUND_KIND, self._district(b), place=b.device_id, lon=b.lon, lat=b.lat)
        for c in getattr(self.city, "cameras", None) or []:
            tags[c.device_id] = DeviceTags(
                "camera", self._district(c), company=c.operator or NONE, place=c.device_id, lon=c.lon, lat=c.lat
            )
        return tags

    def of(self, device_id: str, default_kind: str = UNKNOWN) -> DeviceTags:
        """Return the tags of a device (inventory first, then the message kind)."""
        return self._tags.get(device_id) or DeviceTags(default_kind, self.district)

    def district_at(self, lon: float, lat: float) -> str:
        """Return the district of the grid cell at a point (cached per ~100 m), else the city's."""
        return self._district_at(round(lon, 3), round(lat, 3))

    @lru_cache(maxsize=65_536)  # noqa: B019 - one tagger per process, kept for its life
    def _district_at(self, lon: float, lat: float) -> str:
        return grid_district(self.city, lon, lat) or self.district

    def period(self, ts_ms: int) -> str:
        """Return ``day`` or ``night`` for an event time: the noise rule's night, in the city's local time."""
        local = datetime.fromtimestamp(ts_ms / 1000, self.zone).time()
        return "night" if self.default_limits.night.contains(local) else "day"

    def site_limits(self, device_id: str) -> SiteLimits:
        """Return the limits of a site monitor (a site's own values override the defaults)."""
        site = self.city.site_by_device.get(device_id)
        d = self.default_limits
        return SiteLimits(
            float(getattr(site, "pm10_limit_ugm3", None) or d.pm10_ugm3),
            float(getattr(site, "noise_day_limit_dba", None) or d.noise_day_dba),
            float(getattr(site, "noise_night_limit_dba", None) or d.noise_night_dba),
            d.night,
        )


def _point(measurement: str, ts_ms: int, **tags: str) -> Point:
    point = Point(measurement).time(ts_ms, WritePrecision.MS)
    for key, value in tags.items():
        point.tag(key, value)
    return point


def _optional(point: Point, **fields: Any) -> Point:
    for key, value in fields.items():
        if value is not None:
            point.field(key, value)
    return point


def vehicle_state(pos: VehiclePosition) -> str:
    """Return the state the fleet map colours a truck by: idle, or its load when moving."""
    return "idle" if pos.speed_kmh < IDLE_SPEED_KMH else pos.load_state.value


def position_point(pos: VehiclePosition, tagger: Tagger) -> Point:
    """Return the point of a truck position."""
    t = tagger.of(pos.device_id, "vehicle")
    p = _point(
        POSITION,
        pos.ts_ms,
        device_id=pos.device_id,
        vehicle_kind=t.kind,
        company=t.company,
        district=tagger.district_at(pos.lon, pos.lat),
    )
    p.field("lat", pos.lat).field("lon", pos.lon).field("speed_kmh", pos.speed_kmh)
    p.field("heading_deg", pos.heading_deg).field("load_state", pos.load_state.value)
    p.field("state", vehicle_state(pos)).field("seq", pos.seq)
    return _optional(p, cover_closed=pos.cover_closed, body_lifted=pos.body_lifted)


def facility_point(r: FacilityReading, tagger: Tagger) -> Point:
    """Return the point of a fill-level reading."""
    t = tagger.of(r.device_id, "facility")
    p = _point(FACILITY, r.ts_ms, device_id=r.device_id, facility_id=t.place, facility_kind=t.kind, district=t.district)
    p.field("fill_ratio", r.fill_ratio).field("seq", r.seq)
    return _optional(p, nh3_mgm3=r.nh3_mgm3, h2s_mgm3=r.h2s_mgm3, lat=t.lat, lon=t.lon)


def site_point(r: SiteReading, tagger: Tagger) -> Point:
    """Return the point of a dust / noise reading, with the limits in force at that time."""
    t, limits, period = tagger.of(r.device_id, "site"), tagger.site_limits(r.device_id), tagger.period(r.ts_ms)
    if t.device_kind == BACKGROUND_KIND:  # an ambient station, not a site: its own measurement, no site limits
        p = _point(BACKGROUND, r.ts_ms, device_id=r.device_id, district=t.district)
        p.field("pm10_ugm3", r.pm10_ugm3).field("seq", r.seq)
        return _optional(p, lat=t.lat, lon=t.lon)
    noise_limit = limits.noise_day_dba if period == "day" else limits.noise_night_dba
    p = _point(SITE, r.ts_ms, device_id=r.device_id, site_id=t.place, district=t.district, period=period)
    p.field("pm10_ugm3", r.pm10_ugm3).field("noise_dba", r.noise_dba).field("seq", r.seq)
    p.field("pm10_limit_ugm3", limits.pm10_ugm3).field("noise_limit_dba", noise_limit)
    return _optional(p, lat=t.lat, lon=t.lon)


def camera_point(e: CameraEvent, tagger: Tagger) -> Point:
    """Return the point of a camera detection."""
    t = tagger.of(e.device_id, "camera")
    p = _point(CAMERA, e.ts_ms, device_id=e.device_id, event_type=e.event_type.value, district=t.district)
    p.field("event_id", e.event_id).field("confidence", e.confidence).field("lat", e.lat).field("lon", e.lon)
    return _optional(p.field("seq", e.seq), plate=e.plate, image_ref=e.image_ref)


def status_point(s: DeviceStatus, tagger: Tagger) -> Point:
    """Return the point of a birth / last-will status."""
    t = tagger.of(s.device_id)
    p = _point(
        STATUS, s.ts_ms, device_id=s.device_id, device_kind=t.device_kind, company=t.company, district=t.district
    )
    p.field("online", 1 if s.state == "online" else 0).field("state", s.state).field("seq", s.seq)
    return _optional(p, reason=_plain(s.reason) if s.reason else None)


_EVENT_POINTS: dict[type[Message], Callable[[Any, Tagger], Point]] = {
    VehiclePosition: position_point,
    FacilityReading: facility_point,
    SiteReading: site_point,
    CameraEvent: camera_point,
    DeviceStatus: status_point,
}


def event_lines(events: list[Message], tagger: Tagger) -> list[str]:
    """Return the line-protocol records of a batch of validated events."""
    return [_EVENT_POINTS[type(e)](e, tagger).to_line_protocol() for e in events if type(e) in _EVENT_POINTS]


def alert_point(a: Alert, tagger: Tagger) -> Point:
    """Return the point of one alert phase (open / update / clear)."""
    p = _point(
        ALERT,
        a.ts_ms,
        rule=a.rule,
        phase=a.phase.value,
        severity=a.severity.value,
        matter_code=a.matter_code,
        subject=a.subject,
        district=tagger.of(a.subject).district,
    )
    p.field("alert_id", a.alert_id).field("episode_start_ms", a.episode_start_ms)
    p.field("lat", a.lat).field("lon", a.lon)
    return p.field("evidence", json.dumps(a.evidence, ensure_ascii=False, sort_keys=True, default=str))


def alert_lines(alerts: list[Alert], tagger: Tagger) -> list[str]:
    """Return the line-protocol records of a batch of alerts."""
    return [alert_point(a, tagger).to_line_protocol() for a in alerts]


@dataclass(frozen=True)
class TicketChange:
    """A ticket entering a state (the ticket service reports these; see ``ticket_line``)."""

    ticket_id: str
    state: str  # a small fixed set, e.g. open / dispatched / resolved / closed
    ts_ms: int
    rule: str
    subject: str
    district: str = UNKNOWN
    alert_id: str | None = None
    assignee: str | None = None


def ticket_line(change: TicketChange) -> str:
    """Return the line-protocol record of a ticket state change."""
    p = _point(
        TICKET, change.ts_ms, state=change.state, rule=change.rule, subject=change.subject, district=change.district
    )
    p.field("ticket_id", change.ticket_id)
    return _optional(
        p, alert_id=change.alert_id, assignee=_plain(change.assignee) if change.assignee else None
    ).to_line_protocol()
