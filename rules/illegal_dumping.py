"""Illegal dumping (偷倒 / 乱倒): a muck truck unloading, or lingering loaded, outside approved sites.

The caller says where each position is (``SiteZone``: ``"origin"``, ``"disposal"``
or ``"none"``, from the permit's sites and ``geometry.PolygonIndex``). An episode is one *stop*
outside the permit's disposal sites: it starts at the first position at ``<= stop_speed_kmh``
and runs two clocks:

- *lifted*: the body (举升) has been up continuously since; reaching ``lifted_min_s`` opens (or
  escalates to) CRITICAL. Lifting counts anywhere but at a disposal site, origin sites included.
- *loaded dwell*: since the first loaded position of the stop outside every approved site;
  reaching ``dwell_min_s`` opens MAJOR. Waiting at an origin site resets it.

::

    idle --stopped outside disposal--> stop (pending)
    stop --loaded dwell >= dwell_min_s--> open MAJOR (OPEN)
    stop | open MAJOR --lifted >= lifted_min_s--> open CRITICAL (OPEN, or UPDATE once)
    stop | open --moving for >= move_on_s, or at a disposal site--> idle (CLEAR if open)

One stop is one case: lingering and then lifting escalates the same alert. A short move inside
the stop (creeping forward, GPS speed noise) neither ends it nor stops its clocks; a body that
goes down (``body_lifted`` False) restarts the lifted clock, an unknown one (None) leaves it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field

from devices.contracts import LoadState, VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import alert_at, to_ms
from rules.state import FlatState

RULE = "illegal_dumping"

SiteZone = Literal["origin", "disposal", "none"]
"""Where a position is for a permit: at one of its origin sites, at an approved disposal site, or neither."""


class IllegalDumpingParams(Params):
    """Illegal dumping (偷倒乱倒): body lifted or long dwell outside approved sites; trips never delivered."""

    lifted_min_s: float = Field(default=20.0, ge=0.0)
    dwell_min_s: float = Field(default=600.0, ge=0.0)
    stop_speed_kmh: float = Field(default=3.0, ge=0.0)
    trip_timeout_s: float = Field(default=7200.0, gt=0.0)
    move_on_s: float = Field(default=30.0, ge=0.0, description="moving this long ends a stop")


@dataclass(frozen=True, slots=True)
class IllegalDumpingState(FlatState):
    """One vehicle's stop outside disposal sites, its two clocks and its severity once open."""

    last_ts_ms: int | None = None
    stop_start_ms: int | None = None
    moving_since_ms: int | None = None
    loaded_since_ms: int | None = None
    lifted_since_ms: int | None = None
    max_lifted_s: float = 0.0
    severity: str | None = None  # None while pending


def step(
    state: IllegalDumpingState,
    pos: VehiclePosition,
    site_zone: SiteZone,
    params: IllegalDumpingParams,
    *,
    subject: str,
    matter_code: str,
) -> tuple[IllegalDumpingState, list[Alert]]:
    """Advance one vehicle's state by a position and the kind of site it is in."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    if site_zone == "disposal":
        return _end(state, pos, "approved_site", subject, matter_code)
    stopped = pos.speed_kmh <= params.stop_speed_kmh
    if state.stop_start_ms is None and not stopped:
        return IllegalDumpingState(last_ts_ms=pos.ts_ms), []
    if state.stop_start_ms is None:
        stop = IllegalDumpingState(stop_start_ms=pos.ts_ms)
    elif stopped:
        stop = replace(state, moving_since_ms=None)
    else:
        since = pos.ts_ms if state.moving_since_ms is None else state.moving_since_ms
        if pos.ts_ms - since >= to_ms(params.move_on_s):
            return _end(state, pos, "moved_on", subject, matter_code)
        stop = replace(state, moving_since_ms=since)
    return _judge(_clocks(stop, pos, site_zone), pos, params, subject, matter_code)


def _clocks(state: IllegalDumpingState, pos: VehiclePosition, site_zone: SiteZone) -> IllegalDumpingState:
    """Run the loaded-dwell and lifted clocks for this position."""
    loaded = state.loaded_since_ms
    if site_zone == "origin":
        loaded = None
    elif loaded is None and pos.load_state is not LoadState.EMPTY:
        loaded = pos.ts_ms
    lifted = state.lifted_since_ms
    if pos.body_lifted is not None:
        lifted = (pos.ts_ms if lifted is None else lifted) if pos.body_lifted else None
    peak = state.max_lifted_s if lifted is None else max(state.max_lifted_s, (pos.ts_ms - lifted) / 1000)
    return replace(
        state,
        last_ts_ms=pos.ts_ms,
        loaded_since_ms=loaded,
        lifted_since_ms=lifted,
        max_lifted_s=peak,
    )


def _judge(
    state: IllegalDumpingState,
    pos: VehiclePosition,
    params: IllegalDumpingParams,
    subject: str,
    matter_code: str,
) -> tuple[IllegalDumpingState, list[Alert]]:
    """Open on the first clock to reach its threshold; escalate once from MAJOR to CRITICAL."""
    level = level_now(state, pos.ts_ms, params)
    if level is None or state.severity == Severity.CRITICAL or state.severity == level:
        return state, []
    phase = Phase.OPEN if state.severity is None else Phase.UPDATE
    new = replace(state, severity=level.value)
    return new, [_alert(phase, pos, new, subject, matter_code, {"trigger": _trigger(level)})]


def level_now(state: IllegalDumpingState, ts_ms: int, params: IllegalDumpingParams) -> Severity | None:
    """Return the severity the clocks call for at ``ts_ms``, if any."""
    lifted, loaded = state.lifted_since_ms, state.loaded_since_ms
    if lifted is not None and ts_ms - lifted >= to_ms(params.lifted_min_s):
        return Severity.CRITICAL
    if loaded is not None and ts_ms - loaded >= to_ms(params.dwell_min_s):
        return Severity.MAJOR
    return None


def _trigger(level: Severity) -> str:
    """Name the clock behind a severity."""
    return "body_lifted" if level is Severity.CRITICAL else "loaded_dwell"


def _end(
    state: IllegalDumpingState, pos: VehiclePosition, ended_by: str, subject: str, matter_code: str
) -> tuple[IllegalDumpingState, list[Alert]]:
    """End the stop: CLEAR if it was open, silently if it was pending."""
    idle = IllegalDumpingState(last_ts_ms=pos.ts_ms)
    if state.severity is None:
        return idle, []
    return idle, [_alert(Phase.CLEAR, pos, state, subject, matter_code, {"ended_by": ended_by})]


def _alert(
    phase: Phase,
    pos: VehiclePosition,
    stop: IllegalDumpingState,
    subject: str,
    matter_code: str,
    extra: dict[str, str],
) -> Alert:
    """Build the alert of this phase, with both clocks as evidence."""
    start, severity = stop.stop_start_ms, stop.severity
    assert start is not None and severity is not None
    evidence = {
        "load_state": pos.load_state.value,
        "body_lifted": pos.body_lifted,
        "speed_kmh": pos.speed_kmh,
        "stopped_s": (pos.ts_ms - start) / 1000,
        "loaded_since_ms": stop.loaded_since_ms,
        "max_lifted_s": stop.max_lifted_s,
        **extra,
    }
    return alert_at(
        RULE,
        phase,
        pos,
        start_ms=start,
        subject=subject,
        severity=Severity(severity),
        matter_code=matter_code,
        evidence=evidence,
    )


SPEC = RuleSpec(
    name=RULE,
    detects="偷倒 / 乱倒: body lifted while stopped outside disposal sites, or a loaded truck lingering outside approved sites",
    reads=(VehiclePosition,),
    state=IllegalDumpingState,
    matter="08105",
    severity="MAJOR (dwell) → CRITICAL (lifted)",
    params=IllegalDumpingParams,
    computed='state, `VehiclePosition`, `site_zone` (`"origin"` / `"disposal"` / `"none"` for the permit\'s sites), `IllegalDumpingParams`; `subject`, `matter_code`',
    follows="No dumping outside approved disposal sites (消纳场): 城市建筑垃圾管理规定 (no dumping, throwing or piling at will) [S5], the city's 建筑垃圾管理办法 [S6]; lift from the terminal's 举升 signal (vendor extension); a long stop like JT/T 808-2019's overtime-parking alarm, alarm bit 19 [S3]. The durations are local practice",
)
