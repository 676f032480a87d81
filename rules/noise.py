"""Construction noise at the site boundary (施工扰民, GB 12523-2011): window Leq, day / night, night Lmax.

Readings (dB(A)) are folded into event-time windows of ``window_s`` (1200 s by default: GB 12523-2011
§5 judges a continuous 20-minute Leq) aligned to local midnight and cut at the edges of
``params.night`` (22:00 and 06:00 by default, §3), so a window is wholly day or wholly night. A window's equivalent level is the energy mean ``10·log10(mean(10^(L/10)))``. It is
judged when it closes (the first reading of a later window arrives) against ``day_limit_dba`` or
``night_limit_dba``. At night a single reading over ``night_limit_dba + night_max_over_dba`` (the
Lmax rule) is an exceedance at once. One state machine per site monitor::

    idle --closed window Leq > limit, or a night reading > limit + max_over--> open (OPEN)
    open --a night exceedance after a day one--> open (UPDATE: WARNING -> MAJOR)
    open --closed window Leq <= limit - hysteresis_dba and no Lmax in it--> idle (CLEAR)

Day exceedances are WARNING, night ones MAJOR; severity only rises within an episode. Between
the limit and ``limit - hysteresis_dba`` the status holds, so a level hovering at the limit does
not flap. A limit is exceeded when strictly over it ("不得超过").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import Field

from devices.contracts import SiteReading
from devices.schedules import Window, local_time
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.context import At
from rules.episodes import build_alert
from rules.state import FlatState
from rules.windows import Tumbling, WindowMean, advance, optional_window

RULE = "noise"
Status = Literal["violating", "clean", "hold"]


class NoiseParams(Params):
    """Site boundary noise (GB 12523-2011): day / night limits and the night maximum."""

    day_limit_dba: float = Field(default=70.0, gt=0.0)
    night_limit_dba: float = Field(default=55.0, gt=0.0)
    night_max_over_dba: float = Field(default=15.0, ge=0.0)
    night: Window = Field(default="22:00-06:00", validate_default=True)
    window_s: float = Field(default=1200.0, gt=0.0, description="Leq window: GB 12523-2011 measures 20 minutes")
    hysteresis_dba: float = Field(default=3.0, ge=0.0, description="a window clears at limit - hysteresis")
    night_work_activity_dba: float = Field(default=50.0, gt=0.0, description="night Leq that counts as work")


def to_energy(level_dba: float) -> float:
    """Return the relative sound energy of a level in dB(A)."""
    return math.pow(10.0, level_dba / 10.0)


def to_dba(energy: float) -> float:
    """Return the level in dB(A) of a relative sound energy."""
    return 10.0 * math.log10(energy)


def noise_windows(params: NoiseParams, tz: str) -> Tumbling:
    """Return the Leq windows: aligned to local midnight and cut at the night's edges."""
    return Tumbling(round(params.window_s * 1000), tz, cuts=(params.night.start, params.night.end))


def is_night(ts_ms: int, params: NoiseParams, tz: str) -> bool:
    """Tell whether an instant falls in the night window (start inclusive, end exclusive), local time."""
    return params.night.contains(local_time(ts_ms, tz).time())


@dataclass(frozen=True, slots=True)
class NoiseState:
    """One site's open Leq window (energies) and its noise episode, if any."""

    last_ts_ms: int | None = None
    window: WindowMean | None = None
    episode_start_ms: int | None = None
    severity: str | None = None
    max_level_dba: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return {**d, "window": None if self.window is None else self.window.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NoiseState:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(**{**d, "window": optional_window(d["window"])})


@dataclass(frozen=True, slots=True)
class Verdict(FlatState):
    """What a closed window or a single night reading says."""

    status: Status
    trigger: Literal["leq", "lmax"]
    night: bool
    level_dba: float
    limit_dba: float
    start_ms: int  # where an episode it opens starts: the window start, or the reading
    window_start_ms: int | None = None
    window_end_ms: int | None = None
    lmax_dba: float | None = None


def judge_window(window: WindowMean, params: NoiseParams, tz: str) -> Verdict:
    """Judge a closed window's Leq (and its Lmax at night) against the period's limit."""
    night = is_night(window.start_ms, params, tz)
    limit = params.night_limit_dba if night else params.day_limit_dba
    leq, lmax = to_dba(window.mean), to_dba(window.peak)
    over_max = night and lmax > params.night_limit_dba + params.night_max_over_dba
    status: Status = "violating" if leq > limit or over_max else "hold"
    if status == "hold" and leq <= limit - params.hysteresis_dba:
        status = "clean"
    return Verdict(
        status, "leq", night, round(leq, 1), limit, window.start_ms, window.start_ms, window.end_ms, round(lmax, 1)
    )


def judge_reading(reading: SiteReading, params: NoiseParams, tz: str) -> Verdict | None:
    """Return the Lmax verdict of a single night reading, or None if it breaks nothing by itself."""
    limit = params.night_limit_dba + params.night_max_over_dba
    if reading.noise_dba <= limit or not is_night(reading.ts_ms, params, tz):
        return None
    return Verdict("violating", "lmax", True, reading.noise_dba, limit, reading.ts_ms, lmax_dba=reading.noise_dba)


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares."""

    subject: str
    matter_code: str
    lon: float
    lat: float
    hysteresis_dba: float

    def alert(self, phase: Phase, ts_ms: int, state: NoiseState, verdict: Verdict, start_ms: int) -> Alert:
        """Build the alert for this phase of the episode."""
        evidence = {
            **verdict.to_dict(),
            "period": "night" if verdict.night else "day",
            "max_level_dba": round(state.max_level_dba, 1),
            "hysteresis_dba": self.hysteresis_dba,
        }
        for key in ("status", "night", "start_ms"):
            evidence.pop(key)
        return build_alert(
            RULE,
            phase,
            subject=self.subject,
            ts_ms=ts_ms,
            start_ms=start_ms,
            lon=self.lon,
            lat=self.lat,
            severity=Severity(state.severity or Severity.WARNING),
            matter_code=self.matter_code,
            evidence=evidence,
        )


def step(
    state: NoiseState,
    reading: SiteReading,
    params: NoiseParams,
    *,
    subject: str,
    matter_code: str,
    lon: float,
    lat: float,
    tz: str,
) -> tuple[NoiseState, list[Alert]]:
    """Advance one site's noise state by a boundary reading."""
    if state.last_ts_ms is not None and reading.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_code, lon, lat, params.hysteresis_dba)
    energy = to_energy(reading.noise_dba)
    window, closed = advance(state.window, reading.ts_ms, energy, noise_windows(params, tz))
    new, alerts = replace(state, last_ts_ms=reading.ts_ms, window=window), []
    verdicts = [judge_window(closed, params, tz)] if closed is not None else []
    verdicts += [v for v in [judge_reading(reading, params, tz)] if v is not None]
    for verdict in verdicts:
        new, out = _transition(new, verdict, reading.ts_ms, emit)
        alerts += out
    return new, alerts


def _transition(state: NoiseState, verdict: Verdict, ts_ms: int, emit: _Emitter) -> tuple[NoiseState, list[Alert]]:
    """Open, raise or clear the episode by one verdict."""
    severity = Severity.MAJOR if verdict.night else Severity.WARNING
    start = state.episode_start_ms
    if start is None:
        if verdict.status != "violating":
            return state, []
        new = replace(
            state, episode_start_ms=verdict.start_ms, severity=severity.value, max_level_dba=verdict.level_dba
        )
        return new, [emit.alert(Phase.OPEN, ts_ms, new, verdict, verdict.start_ms)]
    if verdict.status == "clean":
        idle = replace(state, episode_start_ms=None, severity=None, max_level_dba=0.0)
        return idle, [emit.alert(Phase.CLEAR, ts_ms, state, verdict, start)]
    peak = state.max_level_dba if verdict.status == "hold" else max(state.max_level_dba, verdict.level_dba)
    new = replace(state, max_level_dba=peak)
    if verdict.status == "hold" or severity != Severity.MAJOR or state.severity == Severity.MAJOR:
        return new, []
    new = replace(new, severity=severity.value)
    return new, [emit.alert(Phase.UPDATE, ts_ms, new, verdict, start)]


def judge(state: NoiseState, reading: SiteReading, at: At) -> tuple[NoiseState, list[Alert]]:
    """The catalog's entry: ``step`` at the site, in the city's time zone."""
    return step(
        state,
        reading,
        at.params,
        subject=at.subject,
        matter_code=at.matter_code,
        lon=at.lon,
        lat=at.lat,
        tz=at.index.tz,
    )


SPEC = RuleSpec(
    name=RULE,
    detects="施工噪声扰民: boundary noise Leq over the day / night limit, or a night reading over the maximum",
    reads=(SiteReading,),
    judge=judge,
    order=20,
    state=NoiseState,
    matter="08001",
    severity="WARNING (day) → MAJOR (night)",
    params=NoiseParams,
    computed="state, `SiteReading`, `NoiseParams`; `subject`, `matter_code`, site `lon` / `lat`, `tz`",
    follows="GB 12523-2011 [S1]: §4 Table 1, day 70, night 55 dB(A); §4, at night the maximum level at most 15 dB(A) over the limit; §3, day 06:00–22:00, night 22:00–06:00 unless the local government sets other hours; §5, a continuous 20-minute equivalent level (Leq) while work goes on. The hysteresis is local practice",
)
