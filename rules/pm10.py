"""Construction-site dust (工地扬尘): PM10 means over event-time windows, warn / stop ladder, daily count.

Readings are folded into tumbling windows of ``window_s`` aligned to local midnight (900 s gives
15-minute means, 3600 s hourly means). A window is judged when it closes, i.e. when the first
reading of a later window arrives. The judged value is the window mean, or, for a site judged
against a background station, the site's mean minus the station's mean over the same window
(``pm10_join`` pairs the two closed windows on a fact key and calls ``judge_window`` too, so the
ladder, the daily count and the episode have one implementation). One state machine per site::

    idle --closed window > warn_ugm3--> open (OPEN: WARNING, MAJOR or CRITICAL, see below)
    open --a closed window rates higher--> open (UPDATE, severity only rises)
    open/WARNING|MAJOR --closed window <= warn_ugm3--> idle (CLEAR)
    open/CRITICAL --closed window <= min(resume_ugm3, warn_ugm3)--> idle (CLEAR: work may resume)

A closed window rates CRITICAL (stop work) over ``stop_ugm3``; MAJOR when it is over ``warn_ugm3``
and the site's count of such windows that local day (the day the window starts) exceeds
``max_exceedances_per_day``; WARNING when merely over ``warn_ugm3``. A local rule without a stop
level or a daily count sets that parameter to None (``PM10_PRESETS``). Windows without readings
do not exist, so a silent monitor never clears a stop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import Field, model_validator

from devices.contracts import SiteReading
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import build_alert
from rules.windows import Tumbling, WindowMean, advance, local_day, optional_window

RULE = "pm10"


class Pm10Params(Params):
    """Site dust PM10 on event-time windows: warn / stop ladder, exceedances per day (defaults: Wuhan)."""

    window_s: float = Field(default=3600.0, gt=0.0, description="3600 = hourly means; 900 = 15-minute means")
    warn_ugm3: float = Field(default=150.0, gt=0.0, description="the limit: a window mean over it is an exceedance")
    stop_ugm3: float | None = Field(default=200.0, gt=0.0, description="stop work over it; None: no stop level")
    resume_ugm3: float = Field(default=150.0, gt=0.0, description="after a stop, work resumes at or under it")
    max_exceedances_per_day: int | None = Field(default=None, ge=0, description="None: no daily count rule")
    use_background: bool = Field(default=False, description="judge site minus background where a site names one")
    background_grace_s: float = Field(
        default=600.0, ge=0.0, description="wait past a window's end for the background's mean, then judge alone"
    )

    @model_validator(mode="after")
    def _ladder_in_order(self) -> Pm10Params:
        if self.stop_ugm3 is not None and self.stop_ugm3 < self.warn_ugm3:
            raise ValueError("need warn_ugm3 <= stop_ugm3")
        return self


Pm10Preset = Literal["wuhan", "shanghai", "hebei"]


# Coherent parameter sets of three local dust rules (rules/README.md "Standards" cites each; check the
# city's edition). A city picks one with ``rules.pm10_preset``; fields it sets under ``rules.pm10`` win.
PM10_PRESETS: dict[str, dict[str, Any]] = {
    # 武汉: hourly mean > 150 µg/m³ warning, > 200 stop work until back at or under 150; no daily count.
    "wuhan": {
        "window_s": 3600.0,
        "warn_ugm3": 150.0,
        "stop_ugm3": 200.0,
        "resume_ugm3": 150.0,
        "max_exceedances_per_day": None,
        "use_background": False,
    },
    # 上海 DB31/964-2016: 15-minute means, at most 1 exceedance a day. The limit value (监控点浓度限值)
    # is not verified here: 150 is a placeholder to replace with the edition in force.
    "shanghai": {
        "window_s": 900.0,
        "warn_ugm3": 150.0,
        "stop_ugm3": None,
        "resume_ugm3": 150.0,
        "max_exceedances_per_day": 1,
        "use_background": False,
    },
    # 河北 DB13/2934-2019: 80 µg/m³, at most 2 exceedances a day, hourly site minus the area's station.
    "hebei": {
        "window_s": 3600.0,
        "warn_ugm3": 80.0,
        "stop_ugm3": None,
        "resume_ugm3": 80.0,
        "max_exceedances_per_day": 2,
        "use_background": True,
    },
}


@dataclass(frozen=True, slots=True)
class Pm10State:
    """One site's open window, today's exceedance count and its dust episode (if any)."""

    last_ts_ms: int | None = None
    window: WindowMean | None = None
    day: str | None = None  # ISO local date the exceedance count is for
    exceedances: int = 0
    episode_start_ms: int | None = None
    severity: str | None = None
    max_judged_ugm3: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        window = None if self.window is None else self.window.to_dict()
        return {**{f: getattr(self, f) for f in self.__dataclass_fields__}, "window": window}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Pm10State:
        """Rebuild the state from the dict ``to_dict`` made (a stored ``background`` window is obsolete)."""
        fields = {k: v for k, v in d.items() if k != "background"}
        return cls(**{**fields, "window": optional_window(d["window"])})


@dataclass(frozen=True, slots=True)
class Judged:
    """A closed window and what it counts for."""

    window: WindowMean
    background_ugm3: float | None
    judged_ugm3: float
    day: str
    exceedances: int
    rating: Severity | None
    note: Mapping[str, Any] = field(default_factory=dict)  # more evidence (the background station's side)


@dataclass(frozen=True, slots=True)
class Emitter:
    """What every alert of one site shares."""

    subject: str
    matter_code: str
    lon: float
    lat: float
    params: Pm10Params
    tz: str

    def alert(self, phase: Phase, ts_ms: int, state: Pm10State, judged: Judged, start_ms: int) -> Alert:
        """Build the alert for this phase of the episode."""
        p, w = self.params, judged.window
        evidence = {
            "window_start_ms": w.start_ms,
            "window_end_ms": w.end_ms,
            "readings": w.count,
            "mean_ugm3": round(w.mean, 1),
            "background_ugm3": _rounded(judged.background_ugm3),
            "judged_ugm3": round(judged.judged_ugm3, 1),
            "max_judged_ugm3": round(state.max_judged_ugm3, 1),
            "warn_ugm3": p.warn_ugm3,
            "stop_ugm3": p.stop_ugm3,
            "resume_ugm3": p.resume_ugm3,
            "local_day": judged.day,
            "exceedances_today": judged.exceedances,
            "max_exceedances_per_day": p.max_exceedances_per_day,
            "daily_limit_exceeded": _over_daily(judged.exceedances, p),
            "stop_work": state.severity == Severity.CRITICAL,
            **judged.note,
        }
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
    state: Pm10State,
    reading: SiteReading,
    params: Pm10Params,
    *,
    subject: str,
    matter_code: str,
    lon: float,
    lat: float,
    tz: str,
) -> tuple[Pm10State, list[Alert]]:
    """Advance one site's dust state by a reading; judge the window it closed, on its own."""
    new, closed = fold(state, reading, params, tz)
    if closed is None:
        return new, []
    return judge_window(new, closed, None, reading.ts_ms, Emitter(subject, matter_code, lon, lat, params, tz))


def fold(state: Pm10State, reading: SiteReading, params: Pm10Params, tz: str) -> tuple[Pm10State, WindowMean | None]:
    """Fold a reading into the open window; return the new state and the window the reading closed."""
    if state.last_ts_ms is not None and reading.ts_ms <= state.last_ts_ms:
        return state, None  # late or duplicate: event time only moves forward
    windows = Tumbling(round(params.window_s * 1000), tz)
    window, closed = advance(state.window, reading.ts_ms, reading.pm10_ugm3, windows)
    return replace(state, last_ts_ms=reading.ts_ms, window=window), closed


def judge_window(
    state: Pm10State,
    closed: WindowMean,
    background_ugm3: float | None,
    ts_ms: int,
    emit: Emitter,
    note: Mapping[str, Any] | None = None,
) -> tuple[Pm10State, list[Alert]]:
    """Judge a closed window (minus the background's mean over it, if given): count it, move the episode."""
    judged = judge(closed, background_ugm3, state, emit.params, emit.tz, note)
    new = replace(state, day=judged.day, exceedances=judged.exceedances)
    return _transition(new, judged, ts_ms, emit)


def judge(
    closed: WindowMean,
    background_ugm3: float | None,
    state: Pm10State,
    params: Pm10Params,
    tz: str,
    note: Mapping[str, Any] | None = None,
) -> Judged:
    """Rate a closed window and count it against its local day."""
    value = closed.mean - background_ugm3 if background_ugm3 is not None else closed.mean
    day = local_day(closed.start_ms, tz).isoformat()
    over = value > params.warn_ugm3
    count = (state.exceedances if state.day == day else 0) + over
    rating = None
    if params.stop_ugm3 is not None and value > params.stop_ugm3:
        rating = Severity.CRITICAL
    elif over:
        rating = Severity.MAJOR if _over_daily(count, params) else Severity.WARNING
    return Judged(closed, background_ugm3, value, day, count, rating, dict(note or {}))


def _transition(state: Pm10State, judged: Judged, ts_ms: int, emit: Emitter) -> tuple[Pm10State, list[Alert]]:
    """Open, raise or clear the episode by a judged window."""
    start, rating = state.episode_start_ms, judged.rating
    if start is None:
        if rating is None:
            return state, []
        new = replace(
            state, episode_start_ms=judged.window.start_ms, severity=rating.value, max_judged_ugm3=judged.judged_ugm3
        )
        return new, [emit.alert(Phase.OPEN, ts_ms, new, judged, judged.window.start_ms)]
    peak = replace(state, max_judged_ugm3=max(state.max_judged_ugm3, judged.judged_ugm3))
    if _clears(state, judged.judged_ugm3, emit.params):
        idle = replace(state, episode_start_ms=None, severity=None, max_judged_ugm3=0.0)
        return idle, [emit.alert(Phase.CLEAR, ts_ms, peak, judged, start)]
    if rating is None or _rank(rating) <= _rank(Severity(state.severity or Severity.WARNING)):
        return peak, []
    raised = replace(peak, severity=rating.value)
    return raised, [emit.alert(Phase.UPDATE, ts_ms, raised, judged, start)]


def _clears(state: Pm10State, value: float, params: Pm10Params) -> bool:
    """Tell whether a judged value ends the episode: not over warn, and after a stop also <= resume."""
    stopped = state.severity == Severity.CRITICAL
    return value <= (min(params.resume_ugm3, params.warn_ugm3) if stopped else params.warn_ugm3)


def _over_daily(count: int, params: Pm10Params) -> bool:
    """Tell whether a day's exceedance count breaks the daily rule (never, without one)."""
    return params.max_exceedances_per_day is not None and count > params.max_exceedances_per_day


def _rank(severity: Severity) -> int:
    return list(Severity).index(severity)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


SPEC = RuleSpec(
    name=RULE,
    detects="工地扬尘: a site's PM10 window mean (or its excess over the background station's mean) over the warn / stop ladder, or too many exceedances in a day",
    reads=(SiteReading,),
    state=Pm10State,
    matter="08004",
    severity="WARNING → MAJOR (daily count broken) → CRITICAL (stop work)",
    params=Pm10Params,
    presets=PM10_PRESETS,
    computed="state, `SiteReading`, params; `subject`, `matter_code`, site `lon` / `lat`, city `tz`. Against a background: stage 1 `fold` per monitor, closed windows as `pm10_window` facts on `pm10:<site_id>`; stage 2 `pm10_join.on_fact` / `check(state, watermark_ms, join)`",
    follows="A provincial or city dust rule, chosen per city [S10]: `wuhan` hourly mean > 150 µg/m³ warning, > 200 stop work until back at or under 150; `shanghai` DB31/964-2016, 15-minute means, at most 1 exceedance a day; `hebei` DB13/2934-2019, 80 µg/m³ site minus the area's station, at most 2 exceedances a day. Site duties under 大气污染防治法 [S7]. Event-time windows",
)
