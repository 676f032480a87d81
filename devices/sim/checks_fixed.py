"""Check the other injections against the city: silences, collection points, facilities, sites, cameras.

Every problem names the injection and its field and, where a device is wrong, the valid choices.
Night, day and deadlines are local time: those injections need the scenario's ``start_local``.
"""

from __future__ import annotations

from datetime import datetime, time

import numpy as np

from devices.inventory import Site
from devices.sim.checks_context import Ctx, choices, muck_permit
from devices.sim.clock import covers, schedule_active
from devices.sim.injections import (
    TRUCK_TYPES,
    AnyInjection,
    CameraSighting,
    FillFast,
    Haze,
    NightWork,
    Noise,
    Odour,
    OpenCover,
    Overflow,
    Pm10,
    Silence,
    SkipCollection,
)
from devices.sim.schedule import LEAD_S
from devices.sim.sensors import STEP_MARGIN, max_clean_fill
from devices.sim.sites import BACKGROUND_MAX_UGM3, INJECTED_CLIP
from devices.sim.truck_plans import AWAY_LEAD_S

FILL_MARGIN = 0.03  # fill noise never moves a reading this far
LEVEL_MARGIN_DBA = 3.0
ACTIVITY_MARGIN_DBA = 1.5
ODOUR_FACTOR = 1.2
PM10_MARGIN = 20.0


def _silence_problems(n: int, inj: Silence, ctx: Ctx) -> list[str]:
    city, every, quiet = ctx.city, ctx.every, ctx.rules.silence
    if inj.target in city.facility_by_device:
        least, interval = quiet.facility_s, every.facility_s
    elif inj.target in city.site_by_device:
        least, interval = quiet.site_s, every.site_s
    elif (permit := muck_permit(city, inj.target)) is not None:
        least, interval = quiet.vehicle_s, every.vehicle_s
        if inj.at_s < AWAY_LEAD_S + LEAD_S:
            return [
                f"injections.{n}.at_s: a truck goes quiet {AWAY_LEAD_S + LEAD_S:g} s after leaving its site at the earliest"
            ]
        if permit.windows and (ctx.clock is None or not covers(ctx.spans(permit), inj.at_s, inj.at_s + inj.duration_s)):
            return [
                (
                    f"injections.{n}.at_s: a terminal is judged silent only in its permit's hours; "
                    f"pin start_local and stay inside them"
                )
            ]
    else:
        judged = [d for d in city.device_kinds() if d in city.facility_by_device or d in city.site_by_device
                  or muck_permit(city, d)]  # fmt: skip
        return [f"injections.{n}.target: {inj.target!r} is not a device judged for silence ({choices(judged)})"]
    if inj.duration_s < least + 2 * interval:
        return [
            (
                f"injections.{n}.duration_s: {inj.duration_s:g} s is too short for a silence of "
                f"{least:g} s with {interval:g} s reports"
            )
        ]
    return []


def _deadline_problems(n: int, inj: SkipCollection, ctx: Ctx, deadline: time) -> list[str]:
    assert ctx.clock is not None
    clock, horizon = ctx.clock, ctx.scenario.duration_s
    for day in clock.days(horizon):
        due = clock.sim_s(datetime.combine(day, deadline))
        day_start = max(clock.sim_s(datetime.combine(day, time(0))), 0.0)
        if 0 < due <= horizon and inj.at_s <= day_start and inj.at_s + inj.duration_s >= due + 60.0:
            return []
    return [
        (
            f"injections.{n}.duration_s: the skip must cover a whole local day up to {deadline:%H:%M} "
            f"(from the start or midnight) inside the run"
        )
    ]


def _collection_problems(n: int, inj: SkipCollection, ctx: Ctx) -> list[str]:
    city = ctx.city
    vehicle = city.vehicle_by_terminal.get(inj.vehicle)
    if vehicle is None or vehicle.kind != "garbage" or vehicle.round is None:
        trucks = [v.terminal_id for v in city.vehicles if v.kind == "garbage" and v.round]
        return [f"injections.{n}.vehicle: {inj.vehicle!r} is not a garbage truck with a round ({choices(trucks)})"]
    points = {p.point_id: p for p in city.collection_points}
    mine = [p for p, cp in points.items() if cp.served_by == [vehicle.vehicle_id]]
    point = points.get(inj.point)
    if point is None or point.served_by != [vehicle.vehicle_id]:
        return [f"injections.{n}.point: {inj.point!r} is not served by {vehicle.vehicle_id} alone ({choices(mine)})"]
    if ctx.clock is None:
        return [f"injections.{n}.point: deadlines are local time: pin the scenario's start_local"]
    return _deadline_problems(n, inj, ctx, point.deadline)


def _fill_problems(n: int, inj: Overflow | FillFast | Odour, ctx: Ctx) -> list[str]:
    facility = ctx.city.facility_by_device.get(inj.facility)
    if facility is None:
        return [f"injections.{n}.facility: unknown {inj.facility!r} ({choices(list(ctx.city.facility_by_device))})"]
    least = ctx.rules.fill_forecast.full_ratio + STEP_MARGIN
    if isinstance(inj, Overflow) and inj.to_ratio < least:
        return [
            (
                f"injections.{n}.to_ratio: {inj.to_ratio:g} is not clearly an overflow past the full mark "
                f"(>= {least:g}; a lower one would be forecast first)"
            )
        ]
    if isinstance(inj, FillFast):
        return _fast_problems(n, inj, ctx)
    if isinstance(inj, Odour):
        return _odour_problems(n, inj, ctx, facility.kind, facility.odour_grade)
    return []


def _fast_problems(n: int, inj: FillFast, ctx: Ctx) -> list[str]:
    slight, p = ctx.rules.overflow.slight_ratio, ctx.rules.fill_forecast
    if inj.to_ratio > slight - FILL_MARGIN:
        return [f"injections.{n}.to_ratio: {inj.to_ratio:g} would overflow; stay under {slight - FILL_MARGIN:g}"]
    rate_per_s = (inj.to_ratio - max_clean_fill(inj.at_s)) / inj.ramp_s
    if rate_per_s <= 0 or (p.full_ratio - inj.to_ratio) / rate_per_s > p.alert_within_s / 2:
        return [
            (
                f"injections.{n}.ramp_s: rising to {inj.to_ratio:g} in {inj.ramp_s:g} s does not forecast full "
                f"well within {p.alert_within_s:g} s"
            )
        ]
    if inj.ramp_s < (p.min_points + 2) * ctx.every.facility_s:
        return [f"injections.{n}.ramp_s: {inj.ramp_s:g} s gives fewer than {p.min_points + 2} readings"]
    return []


def _odour_problems(n: int, inj: Odour, ctx: Ctx, kind: str, grade: str | None) -> list[str]:
    p = ctx.rules.odour
    if kind != "station":
        stations = [f.device_id for f in ctx.city.facilities if f.kind == "station"]
        return [f"injections.{n}.facility: {inj.facility} has no odour sensor ({choices(stations)})"]
    g = grade or p.grade
    limit = (p.nh3_limits if inj.gas == "nh3" else p.h2s_limits)[g]
    if inj.level_mgm3 < ODOUR_FACTOR * limit:
        return [
            (
                f"injections.{n}.level_mgm3: {inj.level_mgm3:g} is not clearly over the grade {g} {inj.gas} "
                f"limit {limit:g} (>= {ODOUR_FACTOR * limit:g})"
            )
        ]
    if inj.duration_s < (p.min_readings + 2) * ctx.every.facility_s:
        return [f"injections.{n}.duration_s: too short for {p.min_readings} readings over the limit"]
    return []


def _night_flags(inj: Noise | NightWork | Pm10, ctx: Ctx) -> list[bool]:
    """Return, sampled over the injection, whether each moment is in the noise night."""
    assert ctx.clock is not None
    clock, night = ctx.clock, ctx.rules.noise.night
    return [night.contains(clock.local(t).time()) for t in np.linspace(inj.at_s, inj.at_s + inj.duration_s - 1, 24)]


def _permitted(site: Site, inj: Noise | NightWork, ctx: Ctx) -> list[bool]:
    assert ctx.clock is not None
    return [
        schedule_active(site.night_work, ctx.clock, t) for t in np.linspace(inj.at_s, inj.at_s + inj.duration_s - 1, 24)
    ]


def _site_problems(n: int, inj: Pm10 | Noise | NightWork, ctx: Ctx) -> list[str]:
    site = ctx.city.site_by_device.get(inj.site)
    if site is None:
        return [f"injections.{n}.site: unknown {inj.site!r} ({choices(list(ctx.city.site_by_device))})"]
    window = ctx.rules.pm10.window_s if isinstance(inj, Pm10) else ctx.rules.noise.window_s
    if inj.duration_s < 2 * window:
        return [f"injections.{n}.duration_s: {inj.duration_s:g} s does not hold a whole {window:g} s window"]
    if isinstance(inj, Pm10):
        least = ctx.rules.pm10.warn_ugm3 + PM10_MARGIN + _background_at_most(inj, ctx, site)
        return (
            []
            if inj.level_ugm3 >= least
            else [f"injections.{n}.level_ugm3: {inj.level_ugm3:g} is not clearly over the warning level (>= {least:g})"]
        )
    if ctx.clock is None:
        return [f"injections.{n}.at_s: day and night are local time: pin the scenario's start_local"]
    nights = _night_flags(inj, ctx)
    if any(nights) and not all(nights):
        return [f"injections.{n}.at_s: the injection straddles the edge of the night ({ctx.rules.noise.night})"]
    if isinstance(inj, NightWork):
        return _night_work_problems(n, inj, ctx, site, all(nights))
    return _noise_problems(n, inj, ctx, site, all(nights))


def _background_at_most(inj: Pm10, ctx: Ctx, site: Site) -> float:
    """Return the most a site's background can read during an injection (0 for a site judged absolute)."""
    if not ctx.rules.pm10.use_background or site.background_device_id is None:
        return 0.0
    hazes = ctx.scenario.injections_of(Haze, site.background_device_id)
    end = inj.at_s + inj.duration_s
    rise = sum(h.rise_ugm3 for h in hazes if h.at_s < end and inj.at_s < h.at_s + h.duration_s)
    return BACKGROUND_MAX_UGM3 + float(rise)


def _haze_problems(n: int, inj: Haze, ctx: Ctx) -> list[str]:
    city, window = ctx.city, ctx.rules.pm10.window_s
    if inj.station not in city.background_by_device:
        return [f"injections.{n}.station: unknown {inj.station!r} ({choices(list(city.background_by_device))})"]
    if not ctx.rules.pm10.use_background or not city.sites_by_background[inj.station]:
        return [
            (
                f"injections.{n}.station: no site is judged against {inj.station} (city.yaml rules.pm10."
                f"use_background and a site's background_device_id), so a haze would plant absolute pm10 alerts"
            )
        ]
    if inj.duration_s < 2 * window:
        return [f"injections.{n}.duration_s: {inj.duration_s:g} s does not hold a whole {window:g} s window"]
    return []


def _noise_problems(n: int, inj: Noise, ctx: Ctx, site: Site, night: bool) -> list[str]:
    p = ctx.rules.noise
    limit = p.night_limit_dba if night else p.day_limit_dba
    if inj.level_dba < limit + LEVEL_MARGIN_DBA:
        return [
            (
                f"injections.{n}.level_dba: {inj.level_dba:g} is not clearly over the {'night' if night else 'day'} "
                f"limit {limit:g} (>= {limit + LEVEL_MARGIN_DBA:g})"
            )
        ]
    if inj.peak_dba is not None and not night:
        return [f"injections.{n}.peak_dba: a peak (Lmax) counts only at night"]
    peak_least = p.night_limit_dba + p.night_max_over_dba + LEVEL_MARGIN_DBA
    if inj.peak_dba is not None and inj.peak_dba < peak_least:
        return [f"injections.{n}.peak_dba: {inj.peak_dba:g} is not clearly over the night maximum (>= {peak_least:g})"]
    if night and not all(_permitted(site, inj, ctx)):
        return [
            (
                f"injections.{n}.site: night noise at {inj.site} without night work in force is also night_work "
                f"({choices(_night_sites(ctx))})"
            )
        ]
    return []


def _night_sites(ctx: Ctx) -> list[str]:
    return [s.device_id for s in ctx.city.sites if s.night_work]


def _night_work_problems(n: int, inj: NightWork, ctx: Ctx, site: Site, night: bool) -> list[str]:
    p = ctx.rules.noise
    if not night:
        return [f"injections.{n}.at_s: night work must be at night ({p.night})"]
    if any(_permitted(site, inj, ctx)):
        others = [s.device_id for s in ctx.city.sites if s.device_id not in _night_sites(ctx)]
        return [f"injections.{n}.site: {inj.site} has night work in force then ({choices(others)})"]
    low, high = p.night_work_activity_dba + ACTIVITY_MARGIN_DBA, p.night_limit_dba - INJECTED_CLIP - 0.5
    if not low <= inj.level_dba <= high:
        return [
            (f"injections.{n}.level_dba: {inj.level_dba:g} must be activity under the night limit ({low:g}..{high:g})")
        ]
    return []


def _camera_problems(n: int, inj: CameraSighting, ctx: Ctx) -> list[str]:
    city, least = ctx.city, ctx.rules.camera.min_confidence
    if inj.camera not in city.camera_by_device:  # ingest refuses a camera the city does not list
        return [
            f"injections.{n}.camera: {inj.camera!r} is not a camera of the city ({choices(list(city.camera_by_device))})"
        ]
    if inj.confidence < least:
        return [f"injections.{n}.confidence: {inj.confidence:g} is under the fusion minimum {least:g}"]
    if inj.vehicle is not None and inj.vehicle not in city.vehicle_by_terminal:
        return [f"injections.{n}.vehicle: unknown {inj.vehicle!r} ({choices(list(city.vehicle_by_terminal))})"]
    return _corroboration_problems(n, inj, ctx) if inj.corroborates else []


def _corroboration_problems(n: int, inj: CameraSighting, ctx: Ctx) -> list[str]:
    rules, every = ctx.rules, ctx.every.vehicle_s
    others = [i for i in ctx.scenario.injections if isinstance(i, TRUCK_TYPES) and i.type == inj.corroborates
              and i.vehicle == inj.vehicle]  # fmt: skip
    for other in others:
        start, end = other.span(ctx.every)
        opened = start + (rules.uncovered_load.min_duration_s + 2 * every if isinstance(other, OpenCover) else 0.0)
        same_matter = rules.camera_matter_codes.get(inj.event.value) == rules.matter_codes[other.RULE]
        if opened <= inj.at_s <= end and same_matter:
            return []
    return [
        (
            f"injections.{n}.corroborates: no {inj.corroborates} injection of {inj.vehicle} with the same matter "
            f"code has opened its alert and still runs at {inj.at_s:g} s"
        )
    ]


def fixed_problems(n: int, inj: AnyInjection, ctx: Ctx) -> list[str]:
    """Return what is wrong with a non-truck injection."""
    if isinstance(inj, Silence):
        return _silence_problems(n, inj, ctx)
    if isinstance(inj, SkipCollection):
        return _collection_problems(n, inj, ctx)
    if isinstance(inj, Overflow | FillFast | Odour):
        return _fill_problems(n, inj, ctx)
    if isinstance(inj, Pm10 | Noise | NightWork):
        return _site_problems(n, inj, ctx)
    if isinstance(inj, Haze):
        return _haze_problems(n, inj, ctx)
    if isinstance(inj, CameraSighting):
        return _camera_problems(n, inj, ctx)
    return []
