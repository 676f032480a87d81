"""Trips never delivered (偷倒): a loaded trip that left an origin site and never reached disposal.

The caller says where each position is, as a ``SiteZone``: ``"origin"`` inside (or at the gate
of) one of the permit's origin sites, ``"disposal"`` inside one of its approved disposal sites
(消纳场), ``"none"`` elsewhere; and optionally which site (``site_id``, evidence only). One state
machine per vehicle::

    idle --at an origin site--> at origin
    at origin --first point outside, loaded--> trip (departure = that point)
    at origin --first point outside, empty--> idle (nothing was carried)
    trip --reached a disposal site--> idle (silent; CLEAR outcome "delivered" if open)
    trip --back at an origin site--> at origin (silent; CLEAR outcome "returned_to_origin" if open)
    trip --trip_timeout_s after departure, neither--> open (OPEN "trip_not_delivered")

The timeout is judged on positions, so a terminal switched off mid-trip opens the alert on its
first position back (the silent-terminal rule covers the gap itself). Late positions (a blind-area
upload, older than the last) do not move the trip, except that one showing it over ends it
(``late_end``). While a trip is under way
the first empty position outside any site is kept (time and place): where a load vanished is the
evidence an inspector needs. Needs the load signal (JT/T 808 status bits 8-9): a terminal without
one reports ``empty`` and never starts a trip.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from devices.contracts import LoadState, VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import RuleSpec
from rules.episodes import alert_at, to_ms
from rules.illegal_dumping import IllegalDumpingParams, SiteZone
from rules.state import FlatState

RULE = "trip_not_delivered"
SEVERITY = Severity.MAJOR


@dataclass(frozen=True, slots=True)
class TripState(FlatState):
    """One vehicle's trip: at an origin site, on a loaded trip (maybe open), or neither."""

    last_ts_ms: int | None = None
    at_origin: bool = False
    origin_site: str | None = None
    trip_start_ms: int | None = None
    start_lon: float | None = None
    start_lat: float | None = None
    is_open: bool = False
    emptied_ms: int | None = None
    emptied_lon: float | None = None
    emptied_lat: float | None = None


def step(
    state: TripState,
    pos: VehiclePosition,
    site_zone: SiteZone,
    params: IllegalDumpingParams,
    *,
    subject: str,
    matter_code: str,
    site_id: str | None = None,
) -> tuple[TripState, list[Alert]]:
    """Advance one vehicle's trip by a position and the kind of site it is in."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    if site_zone == "origin":
        arrived = TripState(last_ts_ms=pos.ts_ms, at_origin=True, origin_site=site_id)
        return arrived, _end(state, pos, "returned_to_origin", site_id, subject, matter_code)
    if site_zone == "disposal":
        idle = TripState(last_ts_ms=pos.ts_ms)
        return idle, _end(state, pos, "delivered", site_id, subject, matter_code)
    if state.trip_start_ms is not None:
        return _under_way(state, pos, to_ms(params.trip_timeout_s), subject, matter_code)
    if state.at_origin and pos.load_state is not LoadState.EMPTY:
        return _depart(state, pos), []
    return TripState(last_ts_ms=pos.ts_ms), []


def late_end(
    state: TripState,
    pos: VehiclePosition,
    site_zone: SiteZone,
    *,
    subject: str,
    matter_code: str,
    site_id: str | None = None,
) -> tuple[TripState, list[Alert]]:
    """End the trip under way on a late fix (a blind-area upload) that shows it over; ignore any other.

    A fix after the departure, at a disposal site or back at an origin site, proves the trip ended
    whenever it is heard of, so a delivery made out of coverage never times out into a case. The
    trip ends as if the fix had come in time (back at an origin, the truck counts as there: its next
    loaded fix outside departs again), the state keeping its last fix's time; CLEAR if it was open,
    stamped no earlier than that fix.
    """
    start, last = state.trip_start_ms, state.last_ts_ms
    if start is None or last is None or site_zone == "none" or not start < pos.ts_ms <= last:
        return state, []
    if site_zone == "origin":
        ended, outcome = TripState(last_ts_ms=last, at_origin=True, origin_site=site_id), "returned_to_origin"
    else:
        ended, outcome = TripState(last_ts_ms=last), "delivered"
    return ended, [replace(a, ts_ms=last) for a in _end(state, pos, outcome, site_id, subject, matter_code)]


def _depart(state: TripState, pos: VehiclePosition) -> TripState:
    """Start a loaded trip at the first point outside the origin site."""
    return TripState(
        last_ts_ms=pos.ts_ms,
        origin_site=state.origin_site,
        trip_start_ms=pos.ts_ms,
        start_lon=pos.lon,
        start_lat=pos.lat,
    )


def _under_way(
    state: TripState, pos: VehiclePosition, timeout_ms: int, subject: str, matter_code: str
) -> tuple[TripState, list[Alert]]:
    """Note where the load vanished; open once the trip has outlasted the timeout."""
    new = replace(state, last_ts_ms=pos.ts_ms)
    if new.emptied_ms is None and pos.load_state is LoadState.EMPTY:
        new = replace(new, emptied_ms=pos.ts_ms, emptied_lon=pos.lon, emptied_lat=pos.lat)
    start = new.trip_start_ms
    assert start is not None
    if new.is_open or pos.ts_ms - start < timeout_ms:
        return new, []
    new = replace(new, is_open=True)
    return new, [_alert(Phase.OPEN, pos, new, subject, matter_code, {})]


def _end(
    state: TripState,
    pos: VehiclePosition,
    outcome: str,
    site_id: str | None,
    subject: str,
    matter_code: str,
) -> list[Alert]:
    """End a trip: silently if it was not open, with a CLEAR naming the outcome if it was."""
    if not state.is_open:
        return []
    return [_alert(Phase.CLEAR, pos, state, subject, matter_code, {"outcome": outcome, "site_id": site_id})]


def _alert(
    phase: Phase,
    pos: VehiclePosition,
    trip: TripState,
    subject: str,
    matter_code: str,
    extra: dict[str, Any],
) -> Alert:
    """Build the alert of this phase, with the departure and the vanished load as evidence."""
    start = trip.trip_start_ms
    assert start is not None
    evidence = {
        "origin_site": trip.origin_site,
        "departed_ms": start,
        "departed_lon": trip.start_lon,
        "departed_lat": trip.start_lat,
        "emptied_ms": trip.emptied_ms,
        "emptied_lon": trip.emptied_lon,
        "emptied_lat": trip.emptied_lat,
        "load_state": pos.load_state.value,
        "duration_s": (pos.ts_ms - start) / 1000,
        **extra,
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
    detects="偷倒: a loaded trip from an origin site that never reaches an approved disposal site",
    reads=(VehiclePosition,),
    state=TripState,
    matter="08106",
    severity="MAJOR",
    params=IllegalDumpingParams,
    params_key="illegal_dumping",
    computed="state, `VehiclePosition`, `site_zone`, `IllegalDumpingParams`; `subject`, `matter_code`, optional `site_id` (evidence)",
    follows="Loads go to the disposal site named in the permit (城市建筑垃圾管理规定; the city's 建筑垃圾管理办法) [S5, S6]; load from JT/T 808-2019 status bits 8–9 [S3]; the timeout is local practice",
)
