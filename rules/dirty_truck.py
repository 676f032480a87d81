"""Dirty truck (脏车 / 车轮带泥): a truck that leaves a construction site without using its wash station.

The caller says, per position, which site the truck is in (``in_site``: a site id from
``geometry.PolygonIndex`` over site polygons; for a site without a polygon, "within
``exit_radius_m`` of one of its exits") and whether it is within ``wash_radius_m`` of a wash
station (``at_wash``; any site's will do, sites being far apart). Wash stations stand at the
exits, often just outside the polygon, so a position at a wash station still counts as on the
visit. One state machine per vehicle::

    idle --in a site--> visit (entered)
    visit --at a wash station continuously for >= wash_min_dwell_s--> visit, washed
    visit --outside (not at a wash station)--> leaving (exit = first such point)
    leaving --back in the site or at its wash station--> visit (GPS noise at the fence)
    leaving --outside for >= exit_confirm_s, or in another site--> judged, idle

A visit is judged at the confirmed exit: shorter than ``min_visit_s`` (driving past the fence) or
washed, nothing; otherwise a violation. The violation is instantaneous, so the rule emits OPEN
and CLEAR together in that step, with ``episode_start_ms`` = the exit time and the exit point
as location: a complete episode the ticket store records as a cleared violation to follow up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from devices.contracts import VehiclePosition
from devices.rule_params import DirtyTruckParams
from rules.alerts import Alert, Phase, Severity
from rules.episodes import build_alert, to_ms
from rules.state import FlatState

RULE = "dirty_truck"
SEVERITY = Severity.WARNING


@dataclass(frozen=True, slots=True)
class DirtyTruckState(FlatState):
    """One vehicle's site visit: where, since when, its wash dwell, and a pending exit."""

    last_ts_ms: int | None = None
    site_id: str | None = None
    entered_ms: int | None = None
    wash_since_ms: int | None = None
    washed: bool = False
    max_wash_s: float = 0.0
    exit_ms: int | None = None
    exit_lon: float | None = None
    exit_lat: float | None = None


def step(
    state: DirtyTruckState,
    pos: VehiclePosition,
    in_site: str | None,
    at_wash: bool,
    params: DirtyTruckParams,
    *,
    subject: str,
    matter_code: str,
) -> tuple[DirtyTruckState, list[Alert]]:
    """Advance one vehicle's state by a position, the site it is in and whether it is washing."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    if state.site_id is None:
        return _enter(pos, in_site, at_wash, params), []
    if in_site is not None and in_site != state.site_id:  # straight into a neighbouring site
        alerts = _judge(_leave(state, pos), pos, params, subject, matter_code)
        return _enter(pos, in_site, at_wash, params), alerts
    if in_site == state.site_id or at_wash:
        return _on_visit(state, pos, at_wash, params), []
    leaving = _leave(state, pos)
    assert leaving.exit_ms is not None
    if pos.ts_ms - leaving.exit_ms < to_ms(params.exit_confirm_s):
        return leaving, []
    return DirtyTruckState(last_ts_ms=pos.ts_ms), _judge(leaving, pos, params, subject, matter_code)


def _enter(
    pos: VehiclePosition, in_site: str | None, at_wash: bool, params: DirtyTruckParams
) -> DirtyTruckState:
    """Start a visit if the position is in a site (the idle state otherwise)."""
    if in_site is None:
        return DirtyTruckState(last_ts_ms=pos.ts_ms)
    visit = DirtyTruckState(site_id=in_site, entered_ms=pos.ts_ms)
    return _on_visit(visit, pos, at_wash, params)


def _on_visit(
    state: DirtyTruckState, pos: VehiclePosition, at_wash: bool, params: DirtyTruckParams
) -> DirtyTruckState:
    """Stay on the visit (cancelling a pending exit) and run the wash-dwell clock."""
    since = (pos.ts_ms if state.wash_since_ms is None else state.wash_since_ms) if at_wash else None
    dwell_s = 0.0 if since is None else (pos.ts_ms - since) / 1000
    return replace(
        state,
        last_ts_ms=pos.ts_ms,
        wash_since_ms=since,
        washed=state.washed or (since is not None and dwell_s >= params.wash_min_dwell_s),
        max_wash_s=max(state.max_wash_s, dwell_s),
        exit_ms=None,
        exit_lon=None,
        exit_lat=None,
    )


def _leave(state: DirtyTruckState, pos: VehiclePosition) -> DirtyTruckState:
    """Mark the exit at the first position outside (kept while the truck stays out)."""
    new = replace(state, last_ts_ms=pos.ts_ms, wash_since_ms=None)
    if new.exit_ms is not None:
        return new
    return replace(new, exit_ms=pos.ts_ms, exit_lon=pos.lon, exit_lat=pos.lat)


def _judge(
    visit: DirtyTruckState,
    pos: VehiclePosition,
    params: DirtyTruckParams,
    subject: str,
    matter_code: str,
) -> list[Alert]:
    """Judge a finished visit: OPEN and CLEAR together if it was long enough and unwashed."""
    exit_ms, entered_ms = visit.exit_ms, visit.entered_ms
    assert exit_ms is not None and entered_ms is not None
    if visit.washed or exit_ms - entered_ms < to_ms(params.min_visit_s):
        return []
    evidence = _evidence(visit, exit_ms, entered_ms, params)
    lon = pos.lon if visit.exit_lon is None else visit.exit_lon
    lat = pos.lat if visit.exit_lat is None else visit.exit_lat
    return [
        build_alert(RULE, phase, subject=subject, ts_ms=pos.ts_ms, start_ms=exit_ms, lon=lon,
                    lat=lat, severity=SEVERITY, matter_code=matter_code, evidence=evidence)
        for phase in (Phase.OPEN, Phase.CLEAR)
    ]  # fmt: skip


def _evidence(
    visit: DirtyTruckState, exit_ms: int, entered_ms: int, params: DirtyTruckParams
) -> dict[str, Any]:
    """Return what the visit shows: where, how long, and the longest wash-station dwell."""
    return {
        "site_id": visit.site_id,
        "entered_ms": entered_ms,
        "exit_ms": exit_ms,
        "visit_s": (exit_ms - entered_ms) / 1000,
        "max_wash_s": visit.max_wash_s,
        "wash_min_dwell_s": params.wash_min_dwell_s,
    }
