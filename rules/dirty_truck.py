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
Late positions (a blind-area upload, older than the last) do not move the visit, except that a
wash they show lends it the wash (``late_wash``).

**Data gaps.** With ``gap_s`` (the caller's gap threshold: 3 report intervals, as the late-events
pipeline uses), two of the visit's consecutive fixes further apart than that are a *data gap*
(``gaps``): a wash may hide in it, uploaded later from the terminal's blind-area store. An exit
that would be a violation of a visit with gaps is not judged then but *held* (``held``, at most
``MAX_HELD``): ``late_fix`` releases it when late fixes prove the wash, or judges it (the same
alert as on time, marked late by the caller) once late fixes have filled every gap without one;
whatever is still held ``wait_s`` (``LATE_WAIT_S``) after its last gap ended is judged on what is
known, by a later fix or a watermark (``check``), with ``data_gap_s``. A visit without gaps is
judged exactly as before. The alert keeps the time it would have had on time (the fix that
confirmed the exit); only when it is published changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Self

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import WATERMARK, Params, RuleSpec
from rules.episodes import build_alert, to_ms
from rules.state import FlatState

RULE = "dirty_truck"
SEVERITY = Severity.WARNING
LATE_WAIT_S = 1800.0  # a held exit waits this long after its last data gap ended for the blind-area upload
MAX_GAPS = 3  # data gaps kept per visit (older ones merge: only a wash or the deadline settles a merged one)
MAX_HELD = 3  # held exits per truck (one more judges the oldest on what is known)

Span = tuple[int, int]  # (start_ms, end_ms) of a data gap: the fixes around it


class DirtyTruckParams(Params):
    """Dirty truck (车轮带泥): leaving a site without a wash-station dwell."""

    wash_min_dwell_s: float = Field(default=60.0, ge=0.0)
    wash_radius_m: float = Field(default=30.0, gt=0.0, description="caller: near a wash station")
    exit_radius_m: float = Field(default=50.0, gt=0.0, description="caller: at a polygon-less gate")
    min_visit_s: float = Field(default=60.0, ge=0.0, description="shorter visits: passing by")
    exit_confirm_s: float = Field(default=20.0, ge=0.0, description="outside this long: exited")


@dataclass(frozen=True, slots=True)
class HeldExit:
    """An exit that would be a violation, from a visit with data gaps: judged once they are filled, or at a deadline."""

    site_id: str
    entered_ms: int
    exit_ms: int
    judged_ms: int  # the fix that confirmed the exit: the alert's time
    lon: float
    lat: float
    max_wash_s: float
    gaps: tuple[Span, ...]  # still unfilled
    deadline_ms: int  # the last gap's end + wait_s

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists, not tuples)."""
        return {**asdict(self), "gaps": [list(g) for g in self.gaps]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HeldExit:
        """Rebuild a held exit from its ``asdict`` form after JSON."""
        return cls(**{**d, "gaps": _spans(d["gaps"])})


@dataclass(frozen=True, slots=True)
class DirtyTruckState(FlatState):
    """One vehicle's site visit: where, since when, its wash dwell, a pending exit, its data gaps, held exits."""

    last_ts_ms: int | None = None
    site_id: str | None = None
    entered_ms: int | None = None
    wash_since_ms: int | None = None
    washed: bool = False
    max_wash_s: float = 0.0
    exit_ms: int | None = None
    exit_lon: float | None = None
    exit_lat: float | None = None
    gaps: tuple[Span, ...] = ()
    held: tuple[HeldExit, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (lists, not tuples: it equals its JSON round trip)."""
        flat = FlatState.to_dict(self)
        return {**flat, "gaps": [list(g) for g in self.gaps], "held": [h.to_dict() for h in self.held]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Rebuild the state from the dict ``to_dict`` made (states written before gaps and held exits load too)."""
        held = tuple(HeldExit.from_dict(h) for h in d.get("held", ()))
        return cls(**{**d, "gaps": _spans(d.get("gaps", ())), "held": held})


def step(
    state: DirtyTruckState,
    pos: VehiclePosition,
    in_site: str | None,
    at_wash: bool,
    params: DirtyTruckParams,
    *,
    subject: str,
    matter_code: str,
    gap_s: float | None = None,
    wait_s: float = LATE_WAIT_S,
) -> tuple[DirtyTruckState, list[Alert]]:
    """Advance one vehicle's state by a position, the site it is in and whether it is washing.

    ``gap_s``: fixes of a visit further apart than this are a data gap (None: never, nothing is held).
    """
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    state, alerts = _expire(state, pos.ts_ms, params, subject, matter_code)
    if state.site_id is None:
        return _enter(state, pos, in_site, at_wash, params), alerts
    state = _note_gap(state, pos.ts_ms, gap_s)
    if in_site is not None and in_site != state.site_id:  # straight into a neighbouring site
        idle, judged = _judge(_leave(state, pos), pos, params, subject, matter_code, wait_s)
        return _enter(idle, pos, in_site, at_wash, params), alerts + judged
    if in_site == state.site_id or at_wash:
        return _on_visit(state, pos, at_wash, params), alerts
    leaving = _leave(state, pos)
    assert leaving.exit_ms is not None
    if pos.ts_ms - leaving.exit_ms < to_ms(params.exit_confirm_s):
        return leaving, alerts
    idle, judged = _judge(leaving, pos, params, subject, matter_code, wait_s)
    return idle, alerts + judged


def check(
    state: DirtyTruckState, watermark_ms: int, params: DirtyTruckParams, *, subject: str, matter_code: str
) -> tuple[DirtyTruckState, list[Alert]]:
    """Judge the held exits whose deadline the watermark has passed, on what is known (``data_gap_s``)."""
    return _expire(state, watermark_ms, params, subject, matter_code)


def late_wash(live: DirtyTruckState, late: DirtyTruckState) -> DirtyTruckState:
    """Mark the visit under way washed when late fixes (a blind-area upload, judged on a copy) show its wash.

    Only the same visit (site and entry time), and only ever to washed: a wash-station dwell is proof
    whenever it is heard of, so a wash made out of coverage does not make the exit a violation.
    """
    same = live.site_id is not None and (live.site_id, live.entered_ms) == (late.site_id, late.entered_ms)
    if not same or live.washed or not late.washed:
        return live
    return replace(live, washed=True, max_wash_s=max(live.max_wash_s, late.max_wash_s))


def late_fix(
    live: DirtyTruckState,
    late: DirtyTruckState,
    params: DirtyTruckParams,
    *,
    gap: Span,
    filled: bool,
    tolerance_ms: int,
    subject: str,
    matter_code: str,
) -> tuple[DirtyTruckState, list[Alert]]:
    """Apply what a late run (``late``: the visit's copy stepped by the late fixes of ``gap``) proves so far.

    A wash it shows lends the live visit its wash (``late_wash``) and releases a held exit of that visit
    (no alert). ``filled``: the run's trusted fixes cover the whole gap, no stretch without one longer than
    ``tolerance_ms``; then the visits' data gaps that ``gap`` is (within that tolerance) are filled, unless
    fixes still to come before its end could complete a wash. A held exit with no gap left is judged now:
    the alert it would have had on time (the caller marks it late).
    """
    live = late_wash(live, late)
    held = tuple(h for h in live.held if not (_same_visit(late, h.site_id, h.entered_ms) and late.washed))
    if filled:
        if live.site_id is not None and not _could_wash(late, live.site_id, live.entered_ms, gap[1], params):
            live = replace(live, gaps=_fill(live.gaps, gap, tolerance_ms))
        held = tuple(
            h
            if _could_wash(late, h.site_id, h.entered_ms, gap[1], params)
            else replace(h, gaps=_fill(h.gaps, gap, tolerance_ms))
            for h in held
        )
    alerts = [a for h in held if not h.gaps for a in _alerts(h, params, subject, matter_code)]
    return replace(live, held=tuple(h for h in held if h.gaps)), alerts


def _spans(rows: Any) -> tuple[Span, ...]:
    return tuple((int(a), int(b)) for a, b in rows)


def _same_visit(late: DirtyTruckState, site_id: str | None, entered_ms: int | None) -> bool:
    return site_id is not None and (late.site_id, late.entered_ms) == (site_id, entered_ms)


def _could_wash(
    late: DirtyTruckState, site_id: str | None, entered_ms: int | None, end_ms: int, params: DirtyTruckParams
) -> bool:
    """Tell whether late fixes still to come before ``end_ms`` could complete a wash of the visit.

    Only while the run is still on that visit (once it left, the visit's verdict in the gap is final): a dwell
    under way that could reach ``wash_min_dwell_s`` before the gap's end, or room for a whole new one.
    """
    if not _same_visit(late, site_id, entered_ms) or late.washed or late.last_ts_ms is None:
        return False
    wash_ms = to_ms(params.wash_min_dwell_s)
    dwelling = late.wash_since_ms is not None and end_ms - late.wash_since_ms > wash_ms
    return dwelling or end_ms - late.last_ts_ms > wash_ms


def _fill(gaps: tuple[Span, ...], gap: Span, tolerance_ms: int) -> tuple[Span, ...]:
    """Drop the data gaps that ``gap`` is, within the tolerance (the rule's fixes are the trusted ones)."""
    return tuple(g for g in gaps if abs(g[0] - gap[0]) > tolerance_ms or abs(g[1] - gap[1]) > tolerance_ms)


def _note_gap(state: DirtyTruckState, ts_ms: int, gap_s: float | None) -> DirtyTruckState:
    """Record a data gap of the visit before this fix (the newest ``MAX_GAPS``; older ones merge)."""
    last = state.last_ts_ms
    if gap_s is None or last is None or ts_ms - last <= to_ms(gap_s):
        return state
    gaps = (*state.gaps, (last, ts_ms))
    if len(gaps) > MAX_GAPS:
        gaps = ((gaps[0][0], gaps[1][1]), *gaps[2:])
    return replace(state, gaps=gaps)


def _enter(
    state: DirtyTruckState, pos: VehiclePosition, in_site: str | None, at_wash: bool, params: DirtyTruckParams
) -> DirtyTruckState:
    """Start a visit if the position is in a site (the idle state otherwise); held exits stay."""
    if in_site is None:
        return DirtyTruckState(last_ts_ms=pos.ts_ms, held=state.held)
    visit = DirtyTruckState(site_id=in_site, entered_ms=pos.ts_ms, held=state.held)
    return _on_visit(visit, pos, at_wash, params)


def _on_visit(state: DirtyTruckState, pos: VehiclePosition, at_wash: bool, params: DirtyTruckParams) -> DirtyTruckState:
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
    wait_s: float,
) -> tuple[DirtyTruckState, list[Alert]]:
    """Judge a finished visit: OPEN and CLEAR together if it was long enough and unwashed; held if it had gaps.

    Returns the idle state (with the held exits) and the alerts.
    """
    exit_ms, entered_ms, site_id = visit.exit_ms, visit.entered_ms, visit.site_id
    assert exit_ms is not None and entered_ms is not None and site_id is not None
    idle = DirtyTruckState(last_ts_ms=pos.ts_ms, held=visit.held)
    if visit.washed or exit_ms - entered_ms < to_ms(params.min_visit_s):
        return idle, []
    lon = pos.lon if visit.exit_lon is None else visit.exit_lon
    lat = pos.lat if visit.exit_lat is None else visit.exit_lat
    deadline_ms = max((end for _, end in visit.gaps), default=pos.ts_ms) + to_ms(wait_s)
    exit_ = HeldExit(site_id, entered_ms, exit_ms, pos.ts_ms, lon, lat, visit.max_wash_s, visit.gaps, deadline_ms)
    if not visit.gaps or deadline_ms <= pos.ts_ms:  # nothing could hide a wash, or its upload is overdue
        return idle, _alerts(exit_, params, subject, matter_code)
    held = (*visit.held, exit_)
    alerts = [a for h in held[:-MAX_HELD] for a in _alerts(h, params, subject, matter_code)]
    return replace(idle, held=held[-MAX_HELD:]), alerts


def _expire(
    state: DirtyTruckState, now_ms: int, params: DirtyTruckParams, subject: str, matter_code: str
) -> tuple[DirtyTruckState, list[Alert]]:
    """Judge the held exits whose deadline has come, on what is known."""
    due = [h for h in state.held if h.deadline_ms <= now_ms]
    if not due:
        return state, []
    alerts = [a for h in due for a in _alerts(h, params, subject, matter_code)]
    return replace(state, held=tuple(h for h in state.held if h.deadline_ms > now_ms)), alerts


def _alerts(exit_: HeldExit, params: DirtyTruckParams, subject: str, matter_code: str) -> list[Alert]:
    """Return the OPEN and CLEAR of an unwashed exit, at the time it was (or would have been) judged on time."""
    evidence = _evidence(exit_, params)
    return [
        build_alert(RULE, phase, subject=subject, ts_ms=exit_.judged_ms, start_ms=exit_.exit_ms, lon=exit_.lon,
                    lat=exit_.lat, severity=SEVERITY, matter_code=matter_code, evidence=evidence)
        for phase in (Phase.OPEN, Phase.CLEAR)
    ]  # fmt: skip


def _evidence(exit_: HeldExit, params: DirtyTruckParams) -> dict[str, Any]:
    """Return what the visit shows: where, how long, the longest wash-station dwell, and any unfilled data gap."""
    evidence: dict[str, Any] = {
        "site_id": exit_.site_id,
        "entered_ms": exit_.entered_ms,
        "exit_ms": exit_.exit_ms,
        "visit_s": (exit_.exit_ms - exit_.entered_ms) / 1000,
        "max_wash_s": exit_.max_wash_s,
        "wash_min_dwell_s": params.wash_min_dwell_s,
    }
    if exit_.gaps:  # judged without the data that could have shown the wash
        evidence |= {
            "data_gap_s": sum(end - start for start, end in exit_.gaps) / 1000,
            "data_gaps": [[start, end] for start, end in exit_.gaps],
            "held_until_ms": exit_.deadline_ms,
        }
    return evidence


SPEC = RuleSpec(
    name=RULE,
    detects="脏车 / 车轮带泥: a truck leaving a construction site without a wash-station dwell",
    reads=(
        VehiclePosition,
        WATERMARK,
    ),
    state=DirtyTruckState,
    matter="08012",
    severity="WARNING",
    params=DirtyTruckParams,
    computed="state, `VehiclePosition`, `in_site` (site id or None), `at_wash` (bool), params; `subject`, `matter_code`, `gap_s` (live fixes: the data-gap threshold); `check(state, watermark_ms, ...)` per watermark (held exits)",
    follows="Vehicles leaving a site washed, no mud carried onto roads: 大气污染防治法 (a site's dust duties include washing the ground and the vehicles) [S7] and the city's 建筑垃圾管理办法 / site dust rules (wash stations at exits; local) [S6]; the dwell times are local practice",
)
