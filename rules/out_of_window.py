"""Out-of-window running: a muck truck moving outside its permit's hours or validity dates.

A permit (准运证) allows running only in its daily windows (often night only, 22:00-06:00; none
listed means any time) and only between ``valid_from`` and ``valid_to``. For a window that wraps
midnight the hours after midnight belong to the day the window opened, so the last night of a
permit runs until the morning after ``valid_to``. Local time comes from the event's ``ts_ms`` and
the city's time zone.

Each position is *violating* (not allowed now and moving at ``>= min_speed_kmh``), *allowed*
(inside a window of a valid permit) or *stopped* (not allowed, slower than ``min_speed_kmh``)::

    idle --violating--> pending --lasted >= min_duration_s--> open (OPEN)
    pending | open --allowed--> idle at once (CLEAR if open, ended_by "window_open")
    pending | open --stopped for >= stop_clear_s--> idle (CLEAR if open, ended_by "stopped")

A stop shorter than ``stop_clear_s`` (a red light) neither ends nor pauses the episode, so one
run outside the hours is one alert, not one per junction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from pydantic import Field

from devices.contracts import VehiclePosition
from devices.inventory import Permit
from devices.schedules import DateRange, Schedule, local_time
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import EpisodeState, advance, alert_at, to_ms

RULE = "out_of_window"
SEVERITY = Severity.MAJOR
OUTSIDE_HOURS = "outside_hours"
NOT_YET_VALID = "permit_not_yet_valid"
EXPIRED = "permit_expired"


class OutOfWindowParams(Params):
    """A muck truck running outside its permit's hours (or permit validity)."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=60.0, ge=0.0)
    stop_clear_s: float = Field(default=120.0, ge=0.0, description="stopped this long: ends")


@dataclass(frozen=True, slots=True)
class OutOfWindowState(EpisodeState):
    """One vehicle's out-of-window episode, with why its first point was out."""

    reason: str | None = None


def violation(permit: Permit, local: datetime) -> str | None:
    """Return why running is not allowed at a local date-time, or None if it is."""
    hours, dated = _schedules(permit)
    if not hours.active(local):
        return _date_reason(permit, local.date()) or OUTSIDE_HOURS
    if dated.active(local):
        return None
    return EXPIRED if local.date() > permit.valid_to else NOT_YET_VALID


_SCHEDULES: dict[int, tuple[Permit, Schedule, Schedule]] = {}  # by the permit object: a changed permit is a new one
_SCHEDULES_KEPT = 100_000


def _schedules(permit: Permit) -> tuple[Schedule, Schedule]:
    """Return a permit's hours, and its hours within its validity dates, as schedules (made once per permit)."""
    kept = _SCHEDULES.get(id(permit))
    if kept is None or kept[0] is not permit:
        if len(_SCHEDULES) >= _SCHEDULES_KEPT:
            _SCHEDULES.clear()
        hours = Schedule.model_construct(windows=list(permit.windows), weekdays=None, dates=None)
        validity = DateRange.model_construct(start=permit.valid_from, end=permit.valid_to)
        dated = Schedule.model_construct(windows=list(permit.windows), weekdays=None, dates=[validity])
        kept = _SCHEDULES[id(permit)] = (permit, hours, dated)
    return kept[1], kept[2]


def _date_reason(permit: Permit, day: date) -> str | None:
    """Return the validity problem of a calendar date, if any."""
    if day < permit.valid_from:
        return NOT_YET_VALID
    return EXPIRED if day > permit.valid_to else None


def step(
    state: OutOfWindowState,
    pos: VehiclePosition,
    permit: Permit,
    params: OutOfWindowParams,
    *,
    tz: str,
    subject: str,
    matter_code: str,
) -> tuple[OutOfWindowState, list[Alert]]:
    """Advance one vehicle's state by a position, judged against its permit in local time."""
    if state.is_stale(pos.ts_ms):
        return state, []  # late or duplicate: event time only moves forward
    reason = violation(permit, local_time(pos.ts_ms, tz))
    violating = reason is not None and pos.speed_kmh >= params.min_speed_kmh
    clear_ms = 0 if reason is None else to_ms(params.stop_clear_s)
    new, edge = advance(state, pos.ts_ms, violating, to_ms(params.min_duration_s), clear_ms)
    if new.in_episode and new.reason is None:
        new = replace(new, reason=reason)
    if edge is None:
        return new, []
    episode = state if edge is Phase.CLEAR else new
    ended_by = "window_open" if reason is None else "stopped"
    return new, [_alert(edge, pos, episode, permit, ended_by, subject, matter_code)]


def _alert(
    phase: Phase,
    pos: VehiclePosition,
    episode: OutOfWindowState,
    permit: Permit,
    ended_by: str,
    subject: str,
    matter_code: str,
) -> Alert:
    """Build the alert of this phase, with the permit's hours and validity as evidence."""
    start = episode.episode_start_ms
    assert start is not None
    evidence = {
        "permit_id": permit.permit_id,
        "reason": episode.reason,
        "windows": [str(w) for w in permit.windows],
        "valid_from": permit.valid_from.isoformat(),
        "valid_to": permit.valid_to.isoformat(),
        "speed_kmh": pos.speed_kmh,
        "duration_s": (pos.ts_ms - start) / 1000,
    }
    if phase is Phase.CLEAR:
        evidence["ended_by"] = ended_by
    return alert_at(
        RULE,
        phase,
        pos,
        start_ms=start,
        subject=subject,
        severity=SEVERITY,
        matter_code=matter_code,
        evidence=evidence,
    )


SPEC = RuleSpec(
    name=RULE,
    detects="超时段 / 超期运输: a muck truck moving outside its permit's hours or validity dates",
    reads=(VehiclePosition,),
    state=OutOfWindowState,
    matter="08102",
    severity="MAJOR",
    params=OutOfWindowParams,
    computed="state, `VehiclePosition`, `Permit`, params; `tz` (city), `subject`, `matter_code`",
    follows="Hours and validity dates of the permit (准运证), often night only (22:00–06:00; a window wrapping midnight counts for the day it opens): 城市建筑垃圾管理规定 (the hours the city sets) [S5] and the city's 建筑垃圾管理办法 [S6]",
)
