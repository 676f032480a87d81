"""A suspended company's truck operating (停运企业车辆违规运营): the 退出机制 made to bite.

A transport company over its violation points is suspended by the ticket service (a shift lead
may lift it). While it is, each of its trucks that drives is operating illegally. The caller says
whether the truck's company is suspended at this position (``suspended``); the rule does not know
why or since when. One state machine per vehicle, driven by event time only::

    idle --moving while suspended--> pending --moving time >= min_duration_s--> open (OPEN)
    pending | open --suspension lifted--> idle (CLEAR if it was open)
    open --standing still for stop_clear_s--> idle (CLEAR): the trip ended

Standing still stops the clock; it neither opens nor (until ``stop_clear_s``) ends an episode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import alert_at
from rules.state import FlatState

RULE = "suspended_operation"
SEVERITY = Severity.CRITICAL


class SuspendedOperationParams(Params):
    """A suspended company's truck operating (停运企业车辆违规运营): moving while its company is suspended."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=60.0, ge=0.0)
    stop_clear_s: float = Field(default=600.0, gt=0.0, description="standing this long ends the episode")


@dataclass(frozen=True, slots=True)
class SuspendedOperationState(FlatState):
    """One truck's episode of driving while its company is suspended."""

    last_ts_ms: int | None = None
    episode_start_ms: int | None = None
    moving_ms: int = 0
    last_moving_ts_ms: int | None = None  # None while standing (the clock is stopped)
    still_since_ms: int | None = None
    is_open: bool = False


def step(
    state: SuspendedOperationState,
    pos: VehiclePosition,
    suspended: bool,
    params: SuspendedOperationParams,
    *,
    subject: str,
    matter_code: str,
    company: str | None = None,
) -> tuple[SuspendedOperationState, list[Alert]]:
    """Advance one truck's state by a position; ``suspended``: its company is suspended now."""
    evidence = {"company": company, "speed_kmh": pos.speed_kmh}
    who = Who(RULE, SEVERITY, subject, matter_code)
    return drive_while(state, pos, suspended, params, who, evidence, lifted="suspension lifted")


@dataclass(frozen=True, slots=True)
class Who:
    """The episode's rule, severity, subject and matter code (the rules built on ``drive_while`` share it)."""

    rule: str
    severity: Severity
    subject: str
    matter_code: str


def drive_while(
    state: SuspendedOperationState,
    pos: VehiclePosition,
    forbidden: bool,
    params: SuspendedOperationParams,
    who: Who,
    evidence: Mapping[str, object],
    *,
    lifted: str,
) -> tuple[SuspendedOperationState, list[Alert]]:
    """Advance a "must not drive while ``forbidden``" episode by a position (``lifted``: why it ends when not)."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    if not forbidden:
        return _end(state, pos, who, {**evidence, "ended_by": lifted})
    if pos.speed_kmh >= params.min_speed_kmh:
        return _moving(state, pos, round(params.min_duration_s * 1000), who, evidence)
    still_since = state.still_since_ms if state.still_since_ms is not None else pos.ts_ms
    if state.is_open and pos.ts_ms - still_since >= params.stop_clear_s * 1000:
        return _end(state, pos, who, {**evidence, "ended_by": "standing still"})
    return replace(state, last_ts_ms=pos.ts_ms, last_moving_ts_ms=None, still_since_ms=still_since), []


def _moving(
    state: SuspendedOperationState,
    pos: VehiclePosition,
    min_ms: int,
    who: Who,
    evidence: Mapping[str, object],
) -> tuple[SuspendedOperationState, list[Alert]]:
    """Run the clock; open the episode once the truck has driven long enough."""
    start = pos.ts_ms if state.episode_start_ms is None else state.episode_start_ms
    gained = 0 if state.last_moving_ts_ms is None else pos.ts_ms - state.last_moving_ts_ms
    new = replace(
        state,
        last_ts_ms=pos.ts_ms,
        episode_start_ms=start,
        moving_ms=state.moving_ms + gained,
        last_moving_ts_ms=pos.ts_ms,
        still_since_ms=None,
    )
    if new.is_open or new.moving_ms < min_ms:
        return new, []
    new = replace(new, is_open=True)
    return new, [_alert(who, Phase.OPEN, pos, start, {**evidence, "moving_s": new.moving_ms / 1000})]


def _end(
    state: SuspendedOperationState, pos: VehiclePosition, who: Who, evidence: dict[str, object]
) -> tuple[SuspendedOperationState, list[Alert]]:
    """End the episode; clear it if it was open."""
    idle = type(state)(last_ts_ms=pos.ts_ms)
    if not state.is_open or state.episode_start_ms is None:
        return idle, []
    return idle, [_alert(who, Phase.CLEAR, pos, state.episode_start_ms, evidence)]


def _alert(who: Who, phase: Phase, pos: VehiclePosition, start_ms: int, evidence: Mapping[str, object]) -> Alert:
    return alert_at(
        who.rule,
        phase,
        pos,
        start_ms=start_ms,
        subject=who.subject,
        severity=who.severity,
        matter_code=who.matter_code,
        evidence=dict(evidence),
    )


SPEC = RuleSpec(
    name=RULE,
    detects="停运企业车辆违规运营: a truck of a company the bureau has suspended (退出机制) driving",
    reads=(VehiclePosition,),
    state=SuspendedOperationState,
    matter="08108",
    severity="CRITICAL",
    params=SuspendedOperationParams,
    computed="state, `VehiclePosition`, `suspended` (its company is suspended now: the ticket service's suspensions), params; `subject`, `matter_code`, `company`",
    follows="The city's credit and exit rules for transport companies (信用评价, 退出机制: violation points over a threshold suspend the company's transport) in its 建筑垃圾管理办法 (local regulation; check the city's edition) [S6]",
)
