"""Station / bin overflow (垃圾站(箱)满溢) by fill-ratio bands, with hysteresis going down.

One state machine per facility, driven by event time only::

    idle --fill >= slight_ratio--> open (OPEN, WARNING; CRITICAL straight away if >= severe_ratio)
    open/WARNING --fill >= severe_ratio--> open/CRITICAL (UPDATE, once)
    open --fill < clear_ratio--> idle (CLEAR)

Severity only rises within an episode: a fill hovering around ``severe_ratio`` gives one UPDATE,
not one per crossing. Between ``clear_ratio`` and ``slight_ratio`` the current status holds.
A reading carries no location, so the caller passes the facility's lon/lat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import Field, model_validator

from devices.contracts import FacilityReading
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.context import At
from rules.episodes import build_alert
from rules.state import FlatState

RULE = "overflow"


class OverflowParams(Params):
    """Station / bin overflow bands (满溢)."""

    slight_ratio: float = Field(default=0.8, gt=0.0)
    severe_ratio: float = Field(default=0.95, gt=0.0)
    clear_ratio: float = Field(default=0.7, ge=0.0)

    @model_validator(mode="after")
    def _bands_in_order(self) -> OverflowParams:
        if not self.clear_ratio < self.slight_ratio <= self.severe_ratio:
            raise ValueError("need clear_ratio < slight_ratio <= severe_ratio")
        return self


@dataclass(frozen=True, slots=True)
class OverflowState(FlatState):
    """One facility's overflow episode: none, or open at WARNING or CRITICAL."""

    last_ts_ms: int | None = None
    episode_start_ms: int | None = None
    severe: bool = False
    max_fill_ratio: float = 0.0


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares: who, where, which matter, which bands."""

    subject: str
    matter_code: str
    lon: float
    lat: float
    params: OverflowParams

    def alert(self, phase: Phase, reading: FacilityReading, state: OverflowState, start_ms: int) -> Alert:
        """Build the alert for this phase of the episode."""
        evidence = {
            "fill_ratio": reading.fill_ratio,
            "max_fill_ratio": state.max_fill_ratio,
            "slight_ratio": self.params.slight_ratio,
            "severe_ratio": self.params.severe_ratio,
            "clear_ratio": self.params.clear_ratio,
            "duration_s": (reading.ts_ms - start_ms) / 1000,
        }
        return build_alert(
            RULE,
            phase,
            subject=self.subject,
            ts_ms=reading.ts_ms,
            start_ms=start_ms,
            lon=self.lon,
            lat=self.lat,
            severity=Severity.CRITICAL if state.severe else Severity.WARNING,
            matter_code=self.matter_code,
            evidence=evidence,
        )


def step(
    state: OverflowState,
    reading: FacilityReading,
    params: OverflowParams,
    *,
    subject: str,
    matter_code: str,
    lon: float,
    lat: float,
) -> tuple[OverflowState, list[Alert]]:
    """Advance one facility's overflow state by a fill reading located at the facility."""
    if state.last_ts_ms is not None and reading.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_code, lon, lat, params)
    if state.episode_start_ms is None:
        return _idle(state, reading, emit)
    return _open(state, reading, state.episode_start_ms, emit)


def _idle(state: OverflowState, reading: FacilityReading, emit: _Emitter) -> tuple[OverflowState, list[Alert]]:
    """Open an episode when the fill reaches the slight band."""
    fill = reading.fill_ratio
    if fill < emit.params.slight_ratio:
        return replace(state, last_ts_ms=reading.ts_ms), []
    severe = fill >= emit.params.severe_ratio
    new = OverflowState(reading.ts_ms, reading.ts_ms, severe, fill)
    return new, [emit.alert(Phase.OPEN, reading, new, reading.ts_ms)]


def _open(
    state: OverflowState, reading: FacilityReading, start_ms: int, emit: _Emitter
) -> tuple[OverflowState, list[Alert]]:
    """Escalate once on reaching the severe band; clear below the clear ratio."""
    fill = reading.fill_ratio
    if fill < emit.params.clear_ratio:
        cleared = emit.alert(Phase.CLEAR, reading, state, start_ms)
        return OverflowState(last_ts_ms=reading.ts_ms), [cleared]
    escalate = not state.severe and fill >= emit.params.severe_ratio
    new = replace(
        state,
        last_ts_ms=reading.ts_ms,
        severe=state.severe or escalate,
        max_fill_ratio=max(state.max_fill_ratio, fill),
    )
    return new, [emit.alert(Phase.UPDATE, reading, new, start_ms)] if escalate else []


def judge(state: OverflowState, reading: FacilityReading, at: At) -> tuple[OverflowState, list[Alert]]:
    """The catalog's entry: ``step`` with the facility's parameters and place."""
    return step(state, reading, at.params, subject=at.subject, matter_code=at.matter_code, lon=at.lon, lat=at.lat)


SPEC = RuleSpec(
    name=RULE,
    detects="垃圾站(箱)满溢: a station or bin over its fill bands",
    reads=(FacilityReading,),
    judge=judge,
    order=10,
    state=OverflowState,
    matter="06042",
    severity="WARNING → CRITICAL",
    params=OverflowParams,
    computed="state, `FacilityReading`, params; `subject`, `matter_code`, facility `lon` / `lat`",
    follows="The national event class of an overflowing station or bin [S4]; the bands (slight / severe) are the city's assessment practice (市容环境卫生 rules, sanitation contract) [S9]",
)
