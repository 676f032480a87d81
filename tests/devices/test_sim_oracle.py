"""An independent oracle for the simulator's streams: every rule of the catalog, computed simply.

Geometry is pyproj (UTM zone 50N) and shapely; local time is zoneinfo; windows and fits are
numpy. Nothing here imports the simulator's geometry or ``rules/``: the other test modules use
``oracle`` to show that clean traffic breaks nothing and that each injection breaks its rule
exactly once. The tests at the bottom check the oracle itself on hand-made timelines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pyproj import Transformer

from devices.contracts import (
    CameraEvent,
    FacilityReading,
    LoadState,
    Message,
    SiteReading,
    VehiclePosition,
)
from devices.inventory import City, Permit
from rules.params import params_of

UTM = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
Tickets = Counter[tuple[str, str]]


def utm(points: Iterable[tuple[float, float]]) -> np.ndarray:
    """Project lon/lat pairs to UTM 50N metres."""
    lon, lat = zip(*points, strict=True)
    x, y = UTM.transform(lon, lat)
    return np.column_stack([x, y])


def polygon(area: list[list[list[tuple[float, float]]]]) -> shapely.Polygon | shapely.MultiPolygon:
    """Return an inventory area (parts of [exterior, *holes]) as a UTM (multi)polygon."""
    parts = [shapely.Polygon(utm(part[0]), [utm(hole) for hole in part[1:]]) for part in area]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def by_device(stream: Iterable[Message], kind: type) -> dict[str, list]:
    """Group a stream's messages of one kind by device, in time order."""
    out: dict[str, list] = defaultdict(list)
    for m in stream:
        if isinstance(m, kind):
            out[m.device_id].append(m)
    return out


@dataclass
class Track:
    """One vehicle's positions as arrays."""

    ts: np.ndarray  # ms
    xy: np.ndarray  # UTM
    speed: np.ndarray
    loaded: np.ndarray
    cover_open: np.ndarray
    lifted: np.ndarray

    @classmethod
    def of(cls, reports: list[VehiclePosition]) -> Track:
        """Build the arrays of a vehicle's reports."""
        return cls(
            np.array([m.ts_ms for m in reports]), utm([(m.lon, m.lat) for m in reports]),
            np.array([m.speed_kmh for m in reports]), np.array([m.load_state is not LoadState.EMPTY for m in reports]),
            np.array([m.cover_closed is False for m in reports]), np.array([bool(m.body_lifted) for m in reports]),
        )  # fmt: skip

    def inside(self, polys: list[shapely.Polygon]) -> np.ndarray:
        """Tell which fixes lie inside any of the polygons."""
        out = np.zeros(len(self.ts), dtype=bool)
        for p in polys:
            out |= shapely.contains_xy(p, self.xy[:, 0], self.xy[:, 1])
        return out

    def near(self, points: np.ndarray, radius_m: float) -> np.ndarray:
        """Tell which fixes lie within ``radius_m`` of any of the points."""
        if len(points) == 0:
            return np.zeros(len(self.ts), dtype=bool)
        d = np.hypot(*(self.xy[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
        return np.asarray(d.min(axis=1) <= radius_m)


@dataclass
class World:
    """The city as the oracle sees it: UTM shapes, local time, the rule parameters."""

    city: City

    @cached_property
    def tz(self) -> ZoneInfo:
        """The city's time zone."""
        return ZoneInfo(self.city.meta.timezone)

    def local(self, ts_ms: int) -> datetime:
        """Local date-time of an epoch-ms timestamp."""
        return datetime.fromtimestamp(ts_ms / 1000, self.tz)

    def permit(self, device: str) -> Permit | None:
        """The permit of a muck truck's terminal."""
        vehicle = self.city.vehicle_by_terminal.get(device)
        return self.city.permit_by_vehicle.get(vehicle.vehicle_id) if vehicle else None

    @cached_property
    def sites(self) -> dict[str, shapely.Polygon]:
        """Site polygons by site id."""
        return {s.site_id: polygon(s.polygon) for s in self.city.sites if s.polygon}

    @cached_property
    def washes(self) -> np.ndarray:
        """Every wash station (UTM)."""
        return utm([w for s in self.city.sites for w in s.wash_stations])

    @cached_property
    def disposal(self) -> dict[str, shapely.Polygon]:
        """Disposal-site polygons by id."""
        return {d.site_id: polygon(d.polygon) for d in self.city.disposal_sites}

    def allowed(self, permit: Permit, ts_ms: int) -> bool:
        """Tell whether a permit allows running at a time (hours and validity)."""
        local = self.local(ts_ms)
        if not permit.windows:
            return permit.valid_from <= local.date() <= permit.valid_to
        for w in permit.windows:
            if w.contains(local.time()):
                day = local.date() - timedelta(days=1) if w.end <= w.start and local.time() < w.end else local.date()
                return permit.valid_from <= day <= permit.valid_to
        return False


# --- vehicle rules -------------------------------------------------------------------------------


def episodes(ts: np.ndarray, on: np.ndarray, clear: np.ndarray, min_s: float) -> list[int]:
    """Return the start (ms) of each episode: ``on`` held (until ``clear``) for >= ``min_s``."""
    out, start, counted = [], None, False
    for t, o, c in zip(ts.tolist(), on.tolist(), clear.tolist(), strict=True):
        if start is None and o:
            start, counted = t, False
        if start is not None and not counted and t - start >= min_s * 1000:
            out.append(start)
            counted = True
        if start is not None and c:
            start = None
    return out


def route_deviation(world: World, device: str, tr: Track) -> list[int]:
    """Outside the corridor for 30 s (back inside within corridor - 10 m)."""
    permit = world.permit(device)
    if permit is None:
        return []
    d = shapely.distance(shapely.points(tr.xy), shapely.LineString(utm(permit.route)))
    p = params_of(world.city).route_deviation
    return episodes(tr.ts, d > permit.corridor_m, d <= permit.corridor_m - p.hysteresis_m, p.min_duration_s)


def uncovered_load(tr: Track) -> list[int]:
    """Cover open while loaded and moving for 20 s (cleared by a closed cover or an empty body)."""
    bad = tr.cover_open & tr.loaded & (tr.speed >= 5.0)
    return episodes(tr.ts, bad, ~tr.cover_open | ~tr.loaded, 20.0)


def speeding(world: World, device: str, tr: Track) -> list[int]:
    """Over the limit for 30 s: 40 km/h, or the lowest limit of the road segments (roads.yaml) a fix is on."""
    vehicle = world.city.vehicle_by_terminal.get(device)
    limit = np.full(len(tr.ts), 40.0)
    for road in (r for r in world.city.roads if vehicle is None or vehicle.kind in r.vehicle_kinds):
        on = shapely.distance(shapely.points(tr.xy), shapely.LineString(utm(road.polyline))) <= road.half_width_m
        limit[on] = np.minimum(limit[on], road.limit_kmh)
    return episodes(tr.ts, tr.speed > limit, tr.speed <= limit, 30.0)


def out_of_window(world: World, device: str, tr: Track) -> list[int]:
    """Moving outside the permit's hours for 60 s; a stop of 120 s or the hours opening ends it."""
    permit = world.permit(device)
    if permit is None:
        return []
    allowed = np.array([world.allowed(permit, t) for t in tr.ts.tolist()])
    moving = tr.speed >= 5.0
    stopped_since = np.full(len(tr.ts), np.nan)
    for i in range(len(tr.ts)):
        if not moving[i]:
            stopped_since[i] = stopped_since[i - 1] if i and not np.isnan(stopped_since[i - 1]) else tr.ts[i]
    long_stop = ~np.isnan(stopped_since) & (tr.ts - np.nan_to_num(stopped_since) >= 120_000)
    return episodes(tr.ts, ~allowed & moving, allowed | long_stop, 60.0)


def forbidden_zone(world: World, device: str, tr: Track) -> list[int]:
    """Inside a zone closed to the truck's kind, while the zone is in force, for 10 s."""
    kind = world.city.vehicle_by_terminal[device].kind
    inside = np.zeros(len(tr.ts), dtype=bool)
    for zone in (z for z in world.city.zones if kind in z.vehicle_kinds):
        in_force = np.array([zone.schedule.active(world.local(t)) for t in tr.ts.tolist()])
        inside |= tr.inside([polygon(zone.polygon)]) & in_force
    return episodes(tr.ts, inside, ~inside, 10.0)


def _approved(world: World, device: str, tr: Track) -> tuple[np.ndarray, np.ndarray]:
    """Return (in one of the permit's origin sites, in one of its disposal sites) per fix."""
    permit = world.permit(device)
    if permit is None:
        return np.zeros(len(tr.ts), dtype=bool), np.zeros(len(tr.ts), dtype=bool)
    origin = tr.inside([world.sites[s] for s in permit.origin_sites if s in world.sites])
    return origin, tr.inside([world.disposal[s] for s in permit.disposal_sites])


def illegal_dumping(world: World, device: str, tr: Track) -> list[int]:
    """A stop outside disposal sites with the body up for 20 s, or loaded outside approved sites for 600 s."""
    origin, disposal = _approved(world, device, tr)
    p = params_of(world.city).illegal_dumping
    found, stop, moving_since, lifted_since, loaded_since, done = [], None, None, None, None, False
    for i, t in enumerate(tr.ts.tolist()):
        stopped = tr.speed[i] <= p.stop_speed_kmh
        moved_on = (
            stop is not None and not stopped and moving_since is not None and t - moving_since >= p.move_on_s * 1000
        )
        if disposal[i] or moved_on:
            stop = None
        if disposal[i] or (stop is None and not stopped):
            continue
        if stop is None:
            stop, lifted_since, loaded_since, done = t, None, None, False
        moving_since = None if stopped else (moving_since or t)
        lifted_since = (lifted_since or t) if tr.lifted[i] else None
        loaded_since = None if origin[i] else (loaded_since or (t if tr.loaded[i] else None))
        long_lift = lifted_since is not None and t - lifted_since >= p.lifted_min_s * 1000
        long_dwell = loaded_since is not None and t - loaded_since >= p.dwell_min_s * 1000
        if (long_lift or long_dwell) and not done:
            found.append(stop)
            done = True
    return found


def trip_not_delivered(world: World, device: str, tr: Track) -> list[int]:
    """A loaded trip from an origin site that reaches neither a disposal site nor an origin in 2 h."""
    origin, disposal = _approved(world, device, tr)
    timeout = params_of(world.city).illegal_dumping.trip_timeout_s * 1000
    found, at_origin, trip, done = [], False, None, False
    for i, t in enumerate(tr.ts.tolist()):
        if origin[i] or disposal[i]:
            at_origin, trip = bool(origin[i]), None
        elif trip is None and at_origin and tr.loaded[i]:
            trip, at_origin, done = t, False, False
        elif trip is None:
            at_origin = False
        elif not done and t - trip >= timeout:
            found.append(trip)
            done = True
    return found


def dirty_truck(world: World, device: str, tr: Track) -> list[int]:
    """Leaving a site (out for 20 s) after a visit of >= 60 s without 60 s at a wash station."""
    p = params_of(world.city).dirty_truck
    in_site = tr.inside(list(world.sites.values()))
    at_wash = tr.near(world.washes, p.wash_radius_m)
    found, entered, wash_since, washed, exit_at = [], None, None, False, None
    for i, t in enumerate(tr.ts.tolist()):
        on_visit = in_site[i] or (entered is not None and at_wash[i])
        if entered is None and in_site[i]:
            entered, wash_since, washed, exit_at = t, None, False, None
        if entered is None:
            continue
        if on_visit:
            exit_at = None
            wash_since = (wash_since or t) if at_wash[i] else None
            washed = washed or (wash_since is not None and t - wash_since >= p.wash_min_dwell_s * 1000)
            continue
        exit_at = exit_at or t
        if t - exit_at >= p.exit_confirm_s * 1000:
            if not washed and exit_at - entered >= p.min_visit_s * 1000:
                found.append(exit_at)
            entered = None
    return found


def gps_anomaly(tr: Track, min_jump_m: float = 500.0, max_kmh: float = 180.0) -> list[int]:
    """Fixes implausibly far from the last trusted one (a run of them counts once)."""
    found, anchor, in_run = [], 0, False
    for i in range(1, len(tr.ts)):
        d = float(np.hypot(*(tr.xy[i] - tr.xy[anchor])))
        kmh = d / max((tr.ts[i] - tr.ts[anchor]) / 1000, 1e-3) * 3.6
        if d > min_jump_m and kmh > max_kmh:
            if not in_run:
                found.append(int(tr.ts[i]))
            in_run = True
        else:
            anchor, in_run = i, False
    return found


# --- garbage collection ----------------------------------------------------------------------------


def services(world: World, positions: dict[str, list[VehiclePosition]]) -> dict[str, list[int]]:
    """Return, per collection point, the arrival times of dwells (>= 30 s within 40 m) by its trucks."""
    p = params_of(world.city).collection
    out: dict[str, list[int]] = defaultdict(list)
    for point in world.city.collection_points:
        xy = utm([(point.lon, point.lat)])
        for vehicle_id in point.served_by:
            terminal = next(v.terminal_id for v in world.city.vehicles if v.vehicle_id == vehicle_id)
            tr = Track.of(positions.get(terminal, []))
            if len(tr.ts) == 0:
                continue
            near = tr.near(xy, p.radius_m)
            arrived = None
            for t, n in zip(tr.ts.tolist(), near.tolist(), strict=True):
                arrived = (arrived or t) if n else None
                if arrived is not None and t - arrived >= p.min_dwell_s * 1000 and arrived not in out[point.point_id]:
                    out[point.point_id].append(arrived)
    return out


OBSERVED_S = 1800.0  # a deadline is judged only if the run saw the trucks this long before it


def missed_collection(world: World, positions: dict[str, list[VehiclePosition]], start_ms: int,
                      end_ms: int) -> list[tuple[str, int]]:  # fmt: skip
    """Return (point, deadline) for each deadline inside the run not met since the day's start (or the run's).

    A deadline less than ``OBSERVED_S`` after the run's start is not judged: the trucks may have
    served the point before the run began (the rule needs the same guard; see cities/README.md).
    """
    served, missed = services(world, positions), []
    first, last = world.local(start_ms).date(), world.local(end_ms).date()
    for point in world.city.collection_points:
        for k in range((last - first).days + 1):
            day = first + timedelta(days=k)
            due = int(datetime.combine(day, point.deadline, world.tz).timestamp() * 1000)
            since = max(int(datetime.combine(day, time(0), world.tz).timestamp() * 1000), start_ms)
            judged = start_ms + OBSERVED_S * 1000 <= due <= end_ms
            if judged and not any(since <= a < due for a in served[point.point_id]):
                missed.append((point.point_id, due))
    return missed


# --- fixed sensors -----------------------------------------------------------------------------------


def fill_forecast(world: World, readings: list[FacilityReading]) -> list[int]:
    """A least-squares line over the last hour (>= 5 points) reaching full within the hour."""
    p = params_of(world.city).fill_forecast
    ts = np.array([r.ts_ms for r in readings], dtype=float)
    fill = np.array([r.fill_ratio for r in readings])
    found, open_ = [], False
    for i in range(len(ts)):
        w = (ts >= ts[i] - p.window_s * 1000) & (ts <= ts[i])
        if w.sum() < p.min_points:
            continue
        slope, intercept = np.polyfit((ts[w] - ts[i]) / 1000, fill[w], 1)
        eta = (p.full_ratio - intercept) / slope if slope > 0 else np.inf
        if not open_ and eta <= p.alert_within_s and fill[i] < p.full_ratio:
            found.append(int(ts[i]))
            open_ = True
        elif open_ and fill[i] < p.full_ratio and eta > p.clear_factor * p.alert_within_s:
            open_ = False
    return found


def overflow(world: World, readings: list[FacilityReading]) -> list[int]:
    """Fill at or over the slight band (cleared under the clear band)."""
    p = params_of(world.city).overflow
    ts = np.array([r.ts_ms for r in readings])
    fill = np.array([r.fill_ratio for r in readings])
    return episodes(ts, fill >= p.slight_ratio, fill < p.clear_ratio, 0.0)


def odour(world: World, device: str, readings: list[FacilityReading]) -> list[int]:
    """Two readings in a row over the facility's grade limits."""
    facility = world.city.facility_by_device[device]
    p = params_of(world.city).odour
    grade = facility.odour_grade or p.grade
    over = np.array([(r.nh3_mgm3 or 0) > p.nh3_limits[grade] or (r.h2s_mgm3 or 0) > p.h2s_limits[grade]
                     for r in readings])  # fmt: skip
    found, run, under, open_ = [], 0, 0, False
    for r, o in zip(readings, over.tolist(), strict=True):
        run, under = (run + 1, 0) if o else (0, under + 1)
        if not open_ and run >= p.min_readings:
            found.append(r.ts_ms)
            open_ = True
        if open_ and under >= p.min_readings:
            open_ = False
    return found


def local_windows(world: World, ts: np.ndarray, window_s: float) -> np.ndarray:
    """Index readings by event-time windows aligned to local midnight."""
    offset = np.array([world.local(int(t)).utcoffset().total_seconds() * 1000 for t in ts.tolist()])
    return ((ts + offset) // (window_s * 1000)).astype(np.int64)


def _pm10_means(world: World, readings: list[SiteReading]) -> dict[int, tuple[int, float]]:
    """Return, per local window index, (first ts, mean PM10)."""
    ts = np.array([r.ts_ms for r in readings])
    idx = local_windows(world, ts, params_of(world.city).pm10.window_s)
    return {int(k): (int(ts[idx == k][0]), float(np.mean([r.pm10_ugm3 for r, i in zip(readings, idx, strict=True) if i == k])))
            for k in np.unique(idx)}  # fmt: skip


def pm10(world: World, readings: list[SiteReading], background: list[SiteReading] | None = None) -> list[int]:
    """Window means (minus the background station's, if given) over the warning level (an episode ends at a
    window under it)."""
    p = params_of(world.city).pm10
    site = _pm10_means(world, readings)
    ambient = _pm10_means(world, background) if background else {}
    means = [(t, m - ambient[k][1] if k in ambient else m) for k, (t, m) in sorted(site.items())]
    found, open_ = [], False
    for t, m in means[:-1]:  # the last window is still open when the run ends
        if not open_ and m > p.warn_ugm3:
            found.append(t)
            open_ = True
        elif open_ and m <= min(p.warn_ugm3, p.resume_ugm3):
            open_ = False
    return found


def _noise_windows(world: World, readings: list[SiteReading]) -> list[tuple[int, float, float, bool]]:
    """Return (first ts, Leq, Lmax, night) per closed local window."""
    p = params_of(world.city).noise
    ts = np.array([r.ts_ms for r in readings])
    idx = local_windows(world, ts, p.window_s)
    out = []
    for k in np.unique(idx)[:-1]:
        levels = np.array([r.noise_dba for r, i in zip(readings, idx, strict=True) if i == k])
        first = int(ts[idx == k][0])
        leq = 10 * np.log10(np.mean(10 ** (levels / 10)))
        out.append((first, float(leq), float(levels.max()), p.night.contains(world.local(first).time())))
    return out


def noise(world: World, readings: list[SiteReading]) -> list[int]:
    """Window Leq over the day / night limit, or a night reading over limit + 15 dB."""
    p = params_of(world.city).noise
    found, open_ = [], False
    for first, leq, lmax, night in _noise_windows(world, readings):
        limit = p.night_limit_dba if night else p.day_limit_dba
        bad = leq > limit or (night and lmax > p.night_limit_dba + p.night_max_over_dba)
        if not open_ and bad:
            found.append(first)
            open_ = True
        elif open_ and not bad and leq <= limit - p.hysteresis_dba:
            open_ = False
    return found


def night_work(world: World, device: str, readings: list[SiteReading]) -> list[int]:
    """Night windows with activity (Leq >= 50) at a site whose night-work permit is not in force."""
    site = world.city.site_by_device[device]
    p = params_of(world.city).noise
    found, open_ = [], False
    for first, leq, _, night in _noise_windows(world, readings):
        permitted = any(s.active(world.local(first)) for s in site.night_work)
        bad = night and leq >= p.night_work_activity_dba and not permitted
        if not open_ and bad:
            found.append(first)
        open_ = bad
    return found


def silences(world: World, stream: list[Message], end_ms: int) -> list[tuple[str, int]]:
    """Gaps between a device's messages longer than allowed (muck terminals only in their hours)."""
    quiet = params_of(world.city).silence
    limits = {f.device_id: quiet.facility_s for f in world.city.facilities}
    limits |= {s.device_id: quiet.site_s for s in world.city.sites}
    limits |= {v.terminal_id: quiet.vehicle_s for v in world.city.vehicles if world.permit(v.terminal_id)}
    times: dict[str, list[int]] = defaultdict(list)
    for m in stream:
        if isinstance(m, VehiclePosition | FacilityReading | SiteReading):
            times[m.device_id].append(m.ts_ms)
    found = []
    for device, ts in times.items():
        limit = limits.get(device)
        permit = world.permit(device)
        for a, b in zip(ts, [*ts[1:], end_ms], strict=True):
            required = permit is None or world.allowed(permit, a)
            if limit is not None and required and b - a > limit * 1000:
                found.append((device, a))
    return found


# --- everything ------------------------------------------------------------------------------------


def vehicle_tickets(world: World, positions: dict[str, list[VehiclePosition]]) -> Tickets:
    """Count each vehicle rule's episodes."""
    out: Tickets = Counter()
    for device, reports in positions.items():
        tr = Track.of(reports)
        muck = world.permit(device) is not None
        found = {"route_deviation": route_deviation(world, device, tr), "uncovered_load": uncovered_load(tr),
                 "speeding": speeding(world, device, tr), "gps_anomaly": gps_anomaly(tr)}  # fmt: skip
        if muck:
            found |= {"out_of_window": out_of_window(world, device, tr),
                      "forbidden_zone": forbidden_zone(world, device, tr),
                      "illegal_dumping": illegal_dumping(world, device, tr),
                      "trip_not_delivered": trip_not_delivered(world, device, tr),
                      "dirty_truck": dirty_truck(world, device, tr)}  # fmt: skip
        out.update({(rule, device): len(starts) for rule, starts in found.items()})
    return out


def sensor_tickets(world: World, stream: list[Message]) -> Tickets:
    """Count each facility and site rule's episodes."""
    out: Tickets = Counter()
    for device, readings in by_device(stream, FacilityReading).items():
        out["fill_forecast", device] += len(fill_forecast(world, readings))
        out["overflow", device] += len(overflow(world, readings))
        out["odour", device] += len(odour(world, device, readings))
    sites = by_device(stream, SiteReading)
    for device, readings in sites.items():
        site = world.city.site_by_device.get(device)
        if site is None:
            continue  # a background station: judged only through the sites that name it
        judged_against = site.background_device_id if params_of(world.city).pm10.use_background else None
        out["pm10", device] += len(pm10(world, readings, sites.get(judged_against or "")))
        out["noise", device] += len(noise(world, readings))
        out["night_work", device] += len(night_work(world, device, readings))
    return out


def camera_tickets(world: World, stream: list[Message], positions: dict[str, list[VehiclePosition]]) -> Tickets:
    """One alert per camera event, unless it shows a truck during that truck's open-cover episode."""
    out: Tickets = Counter()
    plates = {v.plate: v.terminal_id for v in world.city.vehicles}
    for event in (m for m in stream if isinstance(m, CameraEvent)):
        truck = plates.get(event.plate or "")
        starts = uncovered_load(Track.of(positions[truck])) if truck else []
        if not any(s + 20_000 <= event.ts_ms <= s + 300_000 for s in starts):
            out["camera", event.device_id] += 1
    return out


def oracle(city: City, stream: list[Message]) -> Tickets:
    """Return the alerts a correct pipeline raises on the stream, as (rule, subject) counts."""
    world = World(city)
    start, end = min(m.ts_ms for m in stream), max(m.ts_ms for m in stream)
    positions = by_device(stream, VehiclePosition)
    out = vehicle_tickets(world, positions) + sensor_tickets(world, stream)
    out += camera_tickets(world, stream, positions)
    out.update(("silent_device", d) for d, _ in silences(world, stream, end))
    out.update(("missed_collection", p) for p, _ in missed_collection(world, positions, start, end))
    return +out


# --- the oracle on hand-made timelines ----------------------------------------------------------------


def test_episodes_need_their_duration_and_count_once() -> None:
    ts = np.arange(0, 100_000, 10_000)
    on = np.array([0, 1, 1, 1, 1, 0, 1, 1, 0, 0], dtype=bool)
    assert episodes(ts, on, ~on, 30.0) == [10_000]
    assert episodes(ts, on, ~on, 10.0) == [10_000, 60_000]


def test_gps_anomaly_counts_a_jump_and_back_once() -> None:
    xy = np.array([[0.0, 0.0], [80, 0], [3000, 3000], [240, 0], [320, 0]])
    tr = Track(np.arange(5) * 10_000, xy, np.zeros(5), np.zeros(5, bool), np.zeros(5, bool), np.zeros(5, bool))
    assert gps_anomaly(tr) == [20_000]


def test_local_windows_align_to_local_midnight() -> None:
    world = World.__new__(World)
    world.__dict__["tz"] = ZoneInfo("Asia/Shanghai")
    midnight = int(datetime(2026, 11, 16, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    idx = local_windows(world, np.array([midnight - 1, midnight, midnight + 599_999, midnight + 600_000]), 600)
    assert idx[1] == idx[2] != idx[0] and idx[3] == idx[2] + 1
    assert date(2026, 11, 16).isoweekday() == 1
