"""Odour at a station boundary (恶臭, GB 14554-93): NH3 / H2S over the facility's grade limits.

A reading is *over* when any gas it reports is strictly over its limit for the facility's grade
(``facility.odour_grade``, else ``params.grade``: a column of GB 14554-93 Table 1, ``1``, ``2-new``,
``2-existing``, ``3-new`` or ``3-existing``), *under* when every gas it reports is at or
under its limit, and no evidence at all when it reports neither gas (such readings neither
count nor break a run). One state machine per facility::

    idle --min_readings consecutive over--> open (OPEN; the episode starts at the first of them)
    open --a gas over that was not over before in this episode--> open (UPDATE)
    open --min_readings consecutive under--> idle (CLEAR)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from devices.contracts import FacilityReading
from devices.inventory import OdourGrade
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.context import At
from rules.episodes import build_alert
from rules.state import FlatState

RULE = "odour"
SEVERITY = Severity.WARNING
GASES = ("nh3", "h2s")


# GB 14554-93 Table 1 (恶臭污染物厂界标准值), mg/m³: grade 1; grades 2 and 3 split into 新扩改建 (projects
# approved from 1994-06-01) and 现有 (existing) columns.
_NH3_LIMITS = {"1": 1.0, "2-new": 1.5, "2-existing": 2.0, "3-new": 4.0, "3-existing": 5.0}
_H2S_LIMITS = {"1": 0.03, "2-new": 0.06, "2-existing": 0.10, "3-new": 0.32, "3-existing": 0.60}


class OdourParams(Params):
    """Odour at the boundary (GB 14554-93 Table 1, mg/m³), per grade."""

    grade: OdourGrade = "2-new"
    nh3_limits: dict[str, float] = Field(default_factory=lambda: dict(_NH3_LIMITS))
    h2s_limits: dict[str, float] = Field(default_factory=lambda: dict(_H2S_LIMITS))
    min_readings: int = Field(default=2, ge=1)

    @field_validator("nh3_limits", "h2s_limits", mode="before")
    @classmethod
    def _merge_limits(cls, value: object, info: ValidationInfo) -> object:
        """A city names only the grades it changes; the rest keep GB 14554-93's values."""
        default = {"nh3_limits": _NH3_LIMITS, "h2s_limits": _H2S_LIMITS}[info.field_name or ""]
        return {**default, **value} if isinstance(value, dict) else value


@dataclass(frozen=True, slots=True)
class OdourState(FlatState):
    """One facility's runs of over / under readings and its odour episode, if any."""

    last_ts_ms: int | None = None
    over_run: int = 0
    under_run: int = 0
    run_start_ms: int | None = None
    episode_start_ms: int | None = None
    nh3_over: bool = False  # gases over at some point of the open episode
    h2s_over: bool = False
    max_nh3_mgm3: float = 0.0
    max_h2s_mgm3: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits (mg/m³) that apply to one facility."""

    grade: str
    nh3_mgm3: float
    h2s_mgm3: float

    @classmethod
    def of(cls, params: OdourParams, grade: str | None) -> Limits:
        """Return the limits of the facility's grade, or of the city default grade."""
        g = grade or params.grade
        return cls(g, params.nh3_limits[g], params.h2s_limits[g])

    def over(self, reading: FacilityReading) -> list[str] | None:
        """Return the gases over their limits (empty: all under), or None if the reading has no gas."""
        values = {"nh3": reading.nh3_mgm3, "h2s": reading.h2s_mgm3}
        if all(v is None for v in values.values()):
            return None
        limits = {"nh3": self.nh3_mgm3, "h2s": self.h2s_mgm3}
        return [g for g in GASES if (v := values[g]) is not None and v > limits[g]]


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares."""

    subject: str
    matter_code: str
    lon: float
    lat: float
    limits: Limits

    def alert(self, phase: Phase, reading: FacilityReading, state: OdourState, start_ms: int) -> Alert:
        """Build the alert for this phase of the episode."""
        over = self.limits.over(reading) or []
        evidence: dict[str, Any] = {
            "grade": self.limits.grade,
            "gases_over": over,
            "episode_gases": [g for g in GASES if getattr(state, f"{g}_over")],
            "nh3_mgm3": reading.nh3_mgm3,
            "h2s_mgm3": reading.h2s_mgm3,
            "nh3_limit_mgm3": self.limits.nh3_mgm3,
            "h2s_limit_mgm3": self.limits.h2s_mgm3,
            "max_nh3_mgm3": state.max_nh3_mgm3,
            "max_h2s_mgm3": state.max_h2s_mgm3,
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
            severity=SEVERITY,
            matter_code=self.matter_code,
            evidence=evidence,
        )


def step(
    state: OdourState,
    reading: FacilityReading,
    params: OdourParams,
    *,
    grade: str | None,
    subject: str,
    matter_code: str,
    lon: float,
    lat: float,
) -> tuple[OdourState, list[Alert]]:
    """Advance one facility's odour state by a reading; ``grade`` is ``facility.odour_grade``."""
    if state.last_ts_ms is not None and reading.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_code, lon, lat, Limits.of(params, grade))
    over = emit.limits.over(reading)
    new = replace(state, last_ts_ms=reading.ts_ms)
    if over is None:
        return new, []
    if over:
        return _over(new, reading, over, params.min_readings, emit)
    return _under(new, reading, params.min_readings, emit)


def _over(
    state: OdourState, reading: FacilityReading, gases: list[str], min_readings: int, emit: _Emitter
) -> tuple[OdourState, list[Alert]]:
    """Extend the over run; open once it is long enough, update when another gas joins."""
    run_start = reading.ts_ms if state.run_start_ms is None else state.run_start_ms
    joined = [g for g in gases if not getattr(state, f"{g}_over")]
    nh3, h2s = _peaks(state, reading)
    new = replace(
        state,
        over_run=state.over_run + 1,
        under_run=0,
        run_start_ms=run_start,
        nh3_over=state.nh3_over or "nh3" in gases,
        h2s_over=state.h2s_over or "h2s" in gases,
        max_nh3_mgm3=nh3,
        max_h2s_mgm3=h2s,
    )
    if new.episode_start_ms is not None:
        return new, [emit.alert(Phase.UPDATE, reading, new, new.episode_start_ms)] if joined else []
    if new.over_run < min_readings:
        return new, []
    new = replace(new, episode_start_ms=run_start)
    return new, [emit.alert(Phase.OPEN, reading, new, run_start)]


def _under(
    state: OdourState, reading: FacilityReading, min_readings: int, emit: _Emitter
) -> tuple[OdourState, list[Alert]]:
    """Extend the under run (dropping a pending over run); clear an open episode once it is long enough."""
    if state.episode_start_ms is None:
        return OdourState(last_ts_ms=reading.ts_ms, under_run=state.under_run + 1), []
    nh3, h2s = _peaks(state, reading)
    new = replace(
        state, over_run=0, under_run=state.under_run + 1, run_start_ms=None, max_nh3_mgm3=nh3, max_h2s_mgm3=h2s
    )
    if new.under_run < min_readings:
        return new, []
    cleared = emit.alert(Phase.CLEAR, reading, new, state.episode_start_ms)
    return OdourState(last_ts_ms=reading.ts_ms, under_run=new.under_run), [cleared]


def _peaks(state: OdourState, reading: FacilityReading) -> tuple[float, float]:
    """Return the episode's peak NH3 and H2S including this reading."""
    return max(state.max_nh3_mgm3, reading.nh3_mgm3 or 0.0), max(state.max_h2s_mgm3, reading.h2s_mgm3 or 0.0)


def judge(state: OdourState, reading: FacilityReading, at: At) -> tuple[OdourState, list[Alert]]:
    """The catalog's entry: ``step`` at the facility's own grade (None: the city's)."""
    grade = at.index.facilities[reading.device_id].odour_grade
    return step(
        state, reading, at.params, grade=grade, subject=at.subject, matter_code=at.matter_code, lon=at.lon, lat=at.lat
    )


SPEC = RuleSpec(
    name=RULE,
    detects="恶臭: NH3 or H2S at a station boundary over its grade's limit",
    reads=(FacilityReading,),
    judge=judge,
    order=20,
    state=OdourState,
    matter="06103",
    severity="WARNING",
    params=OdourParams,
    computed="state, `FacilityReading`, params; `grade` (= `facility.odour_grade`; None: `params.grade`), `subject`, `matter_code`, facility `lon` / `lat`",
    follows="GB 14554-93 [S11]: Table 1 (恶臭污染物厂界标准值), boundary limits by grade: grade 1; grades 2 and 3 each with a 新扩改建 (new, expanded or rebuilt: `-new`) and a 现有 (existing) column; the grade follows the area class of GB 3095 (标准分级). A city overriding one grade keeps the others; `min_readings` is local practice",
)
