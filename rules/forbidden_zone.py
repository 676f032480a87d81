"""Forbidden zones (禁行区): a vehicle inside a zone closed to its kind while the zone is in force.

The caller finds the zones a position lies in (``geometry.PolygonIndex`` over the city's zone
polygons, vectorised over a batch) and passes their ids with the zones themselves. A zone
*applies* when the vehicle's kind is in ``zone.vehicle_kinds`` and ``zone.schedule`` is active at
the local time of the event. One state machine per vehicle (subject = device id)::

    idle --in an applying zone--> pending --inside >= min_duration_s--> open (OPEN)
    pending | open --in no applying zone (left, or the zone's hours ended)--> idle (CLEAR if open)

The episode keeps the zone it started in as ``zone_id``; driving from one applying zone straight
into another is one episode. A short incursion (GPS noise across the boundary, a U-turn) raises
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import Field

from devices.contracts import VehiclePosition
from devices.inventory import ForbiddenZone
from devices.schedules import local_time
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import EpisodeState, advance, alert_at, to_ms

RULE = "forbidden_zone"
SEVERITY = Severity.MAJOR


class ForbiddenZoneParams(Params):
    """Entering a forbidden zone (禁行区) while it is in force."""

    min_duration_s: float = Field(default=10.0, ge=0.0)


@dataclass(frozen=True, slots=True)
class ForbiddenZoneState(EpisodeState):
    """One vehicle's forbidden-zone episode and the zone it started in."""

    zone_id: str | None = None


def applying(
    zone_ids: Sequence[str], zones: Mapping[str, ForbiddenZone], vehicle_kind: str, local: datetime
) -> list[str]:
    """Return the ids among ``zone_ids`` of the zones closed to this vehicle kind at local time."""
    return [
        z for z in zone_ids
        if (zone := zones.get(z)) is not None
        and vehicle_kind in zone.vehicle_kinds
        and zone.schedule.active(local)
    ]  # fmt: skip


def step(
    state: ForbiddenZoneState,
    pos: VehiclePosition,
    zone_ids: Sequence[str],
    zones: Mapping[str, ForbiddenZone],
    params: ForbiddenZoneParams,
    *,
    vehicle_kind: str,
    tz: str,
    subject: str,
    matter_code: str,
) -> tuple[ForbiddenZoneState, list[Alert]]:
    """Advance one vehicle's state by a position and the ids of the zones it lies in."""
    if state.is_stale(pos.ts_ms):
        return state, []  # late or duplicate: event time only moves forward
    inside = applying(zone_ids, zones, vehicle_kind, local_time(pos.ts_ms, tz))
    new, edge = advance(state, pos.ts_ms, bool(inside), to_ms(params.min_duration_s))
    if new.in_episode and new.zone_id is None:
        new = replace(new, zone_id=inside[0])
    if edge is None:
        return new, []
    episode = state if edge is Phase.CLEAR else new
    return new, [_alert(edge, pos, episode, zones, inside, subject, matter_code)]


def _alert(
    phase: Phase,
    pos: VehiclePosition,
    episode: ForbiddenZoneState,
    zones: Mapping[str, ForbiddenZone],
    inside: list[str],
    subject: str,
    matter_code: str,
) -> Alert:
    """Build the alert of this phase, naming the zone the episode started in."""
    start, zone_id = episode.episode_start_ms, episode.zone_id
    assert start is not None and zone_id is not None
    zone = zones.get(zone_id)
    evidence = {
        "zone_id": zone_id,
        "zone_name": zone.name if zone is not None else None,
        "zone_ids_now": inside,
        "speed_kmh": pos.speed_kmh,
        "duration_s": (pos.ts_ms - start) / 1000,
    }
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
    detects="禁行区: inside a zone closed to the vehicle's kind while the zone's calendar is in force",
    reads=(VehiclePosition,),
    state=ForbiddenZoneState,
    matter="08103",
    severity="MAJOR",
    params=ForbiddenZoneParams,
    computed="state, `VehiclePosition`, ids of the zones containing the point (`geometry.PolygonIndex`), zones by id, params; `vehicle_kind`, `tz`, `subject`, `matter_code`",
    follows="Zones and times closed to muck trucks: the city's 建筑垃圾管理办法 and traffic restrictions (local) [S6]; as JT/T 808-2019's in / out of area alarm, alarm bit 20 (设置多边形区域) [S3]",
)
