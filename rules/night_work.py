"""Night work without a permit (夜间施工未经许可): site activity at night outside the night-work calendar.

Activity is judged on the same Leq windows as the noise rule (``noise.noise_windows``: local
midnight aligned, cut at the night's edges): a window is *active* when its Leq reaches
``night_work_activity_dba``. A night counts for the local date it starts on (the night of 5 May
runs from 22:00 on 5 May to 06:00 on 6 May). A site may work at night when one of its
``night_work`` schedules is active: a schedule with windows is asked at the window's start (its
wrapping windows already count for the day they start); a schedule without windows (whole nights
by date or weekday) is asked for the night's date. One state machine per site monitor::

    idle --closed night window active and not permitted--> open (OPEN)
    open --closed window quiet, permitted, or in the day--> idle (CLEAR, reason in the evidence)
    open --a reading after the episode's night has ended--> idle (CLEAR, reason night_over)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from devices.contracts import SiteReading
from devices.schedules import Schedule, TimeWindow, local_time
from rules.alerts import Alert, Phase, Severity
from rules.catalog import RuleSpec
from rules.context import At
from rules.episodes import build_alert
from rules.noise import NoiseParams, noise_windows, to_dba, to_energy
from rules.windows import WindowMean, advance, optional_window

RULE = "night_work"
SEVERITY = Severity.MAJOR


def night_of(local: datetime, night: TimeWindow) -> date | None:
    """Return the date a night started on, or None when the local time is not in the night."""
    if not night.contains(local.time()):
        return None
    wraps = night.end <= night.start
    return local.date() - timedelta(days=1) if wraps and local.time() < night.end else local.date()


def permitted(schedules: Sequence[Schedule], local: datetime, night: TimeWindow) -> bool:
    """Tell whether one of a site's night-work schedules covers a local time at night."""
    day = night_of(local, night) or local.date()
    whole_night = datetime.combine(day, time(12), tzinfo=local.tzinfo)
    return any(s.active(local if s.windows else whole_night) for s in schedules)


@dataclass(frozen=True, slots=True)
class NightWorkState:
    """One site's open Leq window and its unpermitted-night-work episode, if any."""

    last_ts_ms: int | None = None
    window: WindowMean | None = None
    episode_start_ms: int | None = None
    night: str | None = None  # ISO date the episode's night started on
    max_leq_dba: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return {**d, "window": None if self.window is None else self.window.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NightWorkState:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(**{**d, "window": optional_window(d["window"])})


@dataclass(frozen=True, slots=True)
class _Context:
    """What every judgement and alert of one step shares."""

    subject: str
    matter_code: str
    lon: float
    lat: float
    params: NoiseParams
    tz: str
    schedules: Sequence[Schedule]

    def alert(self, phase: Phase, ts_ms: int, state: NightWorkState, start_ms: int, **extra: Any) -> Alert:
        """Build the alert for this phase of the episode."""
        evidence = {
            "night": state.night,
            "activity_dba": self.params.night_work_activity_dba,
            "max_leq_dba": round(state.max_leq_dba, 1),
            "night_work_permits": len(self.schedules),
            **extra,
        }
        return build_alert(
            RULE,
            phase,
            subject=self.subject,
            ts_ms=ts_ms,
            start_ms=start_ms,
            lon=self.lon,
            lat=self.lat,
            severity=SEVERITY,
            matter_code=self.matter_code,
            evidence=evidence,
        )


def step(
    state: NightWorkState,
    reading: SiteReading,
    params: NoiseParams,
    *,
    schedules: Sequence[Schedule],
    subject: str,
    matter_code: str,
    lon: float,
    lat: float,
    tz: str,
) -> tuple[NightWorkState, list[Alert]]:
    """Advance one site's night-work state by a boundary reading; ``schedules`` are its night-work permits."""
    if state.last_ts_ms is not None and reading.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    ctx = _Context(subject, matter_code, lon, lat, params, tz, schedules)
    energy = to_energy(reading.noise_dba)
    window, closed = advance(state.window, reading.ts_ms, energy, noise_windows(params, tz))
    new = replace(state, last_ts_ms=reading.ts_ms, window=window)
    alerts: list[Alert] = []
    if closed is not None:
        new, alerts = _judge_window(new, closed, reading.ts_ms, ctx)
    night = night_of(local_time(reading.ts_ms, tz), params.night)
    if new.episode_start_ms is not None and (night is None or night.isoformat() != new.night):
        alerts.append(ctx.alert(Phase.CLEAR, reading.ts_ms, new, new.episode_start_ms, reason="night_over"))
        new = _idle(new)
    return new, alerts


def _judge_window(
    state: NightWorkState, window: WindowMean, ts_ms: int, ctx: _Context
) -> tuple[NightWorkState, list[Alert]]:
    """Open on an active, unpermitted night window; clear on a quiet, permitted or day window."""
    night, leq, excuse = _classify(window, ctx)
    facts = {"leq_dba": round(leq, 1), "window_start_ms": window.start_ms, "window_end_ms": window.end_ms}
    start = state.episode_start_ms
    if start is None:
        if excuse is not None:
            return state, []
        new = replace(state, episode_start_ms=window.start_ms, night=night, max_leq_dba=leq)
        return new, [ctx.alert(Phase.OPEN, ts_ms, new, window.start_ms, **facts)]
    if excuse is None and night == state.night:
        return replace(state, max_leq_dba=max(state.max_leq_dba, leq)), []
    reason = excuse if night == state.night else "night_over"
    return _idle(state), [ctx.alert(Phase.CLEAR, ts_ms, state, start, reason=reason, **facts)]


def _classify(window: WindowMean, ctx: _Context) -> tuple[str | None, float, str | None]:
    """Return a window's night (ISO date), its Leq, and why it is no violation (None when it is one)."""
    local = local_time(window.start_ms, ctx.tz)
    night = night_of(local, ctx.params.night)
    leq = to_dba(window.mean)
    if night is None:
        return None, leq, "night_over"
    if leq < ctx.params.night_work_activity_dba:
        return night.isoformat(), leq, "activity_stopped"
    if permitted(ctx.schedules, local, ctx.params.night):
        return night.isoformat(), leq, "permitted"
    return night.isoformat(), leq, None


def _idle(state: NightWorkState) -> NightWorkState:
    """Return the state with no episode."""
    return replace(state, episode_start_ms=None, night=None, max_leq_dba=0.0)


def judge(state: NightWorkState, reading: SiteReading, at: At) -> tuple[NightWorkState, list[Alert]]:
    """The catalog's entry: ``step`` against the site's night-work certificates."""
    return step(
        state,
        reading,
        at.params,
        schedules=at.index.sites[reading.device_id].night_work,
        subject=at.subject,
        matter_code=at.matter_code,
        lon=at.lon,
        lat=at.lat,
        tz=at.index.tz,
    )


SPEC = RuleSpec(
    name=RULE,
    detects="夜间违规施工: site activity at night on a night without a night-work permit",
    reads=(SiteReading,),
    judge=judge,
    order=30,
    state=NightWorkState,
    matter="08107",
    severity="MAJOR",
    params=NoiseParams,
    params_key="noise",
    computed="state, `SiteReading`, `NoiseParams`; `schedules` (= `site.night_work`), `subject`, `matter_code`, site `lon` / `lat`, `tz`",
    follows="噪声污染防治法, chapter 建筑施工噪声污染防治: no noisy construction at night near residents without the certificate of the local housing / environment authority, published to the neighbours [S2]; the night as in GB 12523-2011 §3 [S1]. The activity level is local practice (a calendar per site holds the certificates)",
)
