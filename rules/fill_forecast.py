"""Fill forecast (满溢预警): predict when a station or bin reaches full and alert before it overflows.

The rule keeps the readings of the last ``window_s`` (at most ``max_points``, newest kept) and
fits a least-squares line to them. With a rising line, the predicted time to full is when the
fitted line reaches ``full_ratio`` (0 when the fit is already there). One state machine per
facility::

    idle -->= min_points, time to full <= alert_within_s, fill < full_ratio--> open (OPEN, INFO)
    open --fill drops by empty_drop_ratio from the window's highest (emptied)--> idle (CLEAR)
    open --fill < full_ratio and the line is flat, falling, or reaches full
           only after clear_factor x alert_within_s--> idle (CLEAR)

Emptying also restarts the history: a trend across a collection means nothing. Once the
facility is full the overflow rule speaks; this alert stays open until it is emptied. INFO:
a forecast is a reason to dispatch, not anybody's offence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pydantic import Field

from devices.contracts import FacilityReading
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.context import At
from rules.episodes import build_alert

RULE = "fill_forecast"
SEVERITY = Severity.INFO
Point = tuple[int, float]  # (ts_ms, fill_ratio)


class FillForecastParams(Params):
    """Forecast time-to-full from the fill trend; alert before overflow."""

    window_s: float = Field(default=3600.0, gt=0.0)
    min_points: int = Field(default=5, ge=3)
    alert_within_s: float = Field(default=3600.0, gt=0.0)
    full_ratio: float = Field(default=0.95, gt=0.0)
    max_points: int = Field(default=120, ge=3, description="readings kept for the fit (newest)")
    empty_drop_ratio: float = Field(default=0.1, gt=0.0, description="a drop this far under the window's top: emptied")
    clear_factor: float = Field(default=1.5, ge=1.0, description="clear past this x alert_within_s")


def fit_line(ts_ms: Sequence[int], fills: Sequence[float]) -> tuple[float, float] | None:
    """Fit fill = a + b·t by least squares; return (b per second, the fitted fill at the last time).

    Times are taken relative to the last one and centred, which keeps the sums well conditioned;
    None when all times are equal (no line).
    """
    t = (np.asarray(ts_ms, dtype=np.float64) - ts_ms[-1]) / 1000.0
    y = np.asarray(fills, dtype=np.float64)
    tc = t - t.mean()
    sxx = float(tc @ tc)
    if sxx == 0.0:
        return None
    slope = float(tc @ (y - y.mean())) / sxx
    return slope, float(y.mean() - slope * t.mean())


@dataclass(frozen=True, slots=True)
class Forecast:
    """The trend of the window and when it reaches full."""

    slope_per_h: float
    fitted_ratio: float
    time_to_full_s: float | None  # None: not rising
    points: int

    @classmethod
    def of(cls, points: Sequence[Point], full_ratio: float) -> Forecast | None:
        """Forecast from the window's points; None when the times give no line."""
        line = fit_line([p[0] for p in points], [p[1] for p in points])
        if line is None:
            return None
        slope, level = line
        eta = max(0.0, (full_ratio - level) / slope) if slope > 0 else None
        return cls(slope * 3600.0, level, eta, len(points))


@dataclass(frozen=True, slots=True)
class FillForecastState:
    """One facility's recent readings and its forecast episode, if any."""

    last_ts_ms: int | None = None
    points: tuple[Point, ...] = ()
    episode_start_ms: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        points = [[t, f] for t, f in self.points]
        return {"last_ts_ms": self.last_ts_ms, "points": points, "episode_start_ms": self.episode_start_ms}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FillForecastState:
        """Rebuild the state from the dict ``to_dict`` made."""
        points = tuple((int(t), float(f)) for t, f in d["points"])
        return cls(d["last_ts_ms"], points, d["episode_start_ms"])


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares."""

    subject: str
    matter_code: str
    lon: float
    lat: float
    params: FillForecastParams

    def alert(self, phase: Phase, reading: FacilityReading, start_ms: int, fc: Forecast | None, **extra: Any) -> Alert:
        """Build the alert for this phase of the episode."""
        evidence = {
            "fill_ratio": reading.fill_ratio,
            "full_ratio": self.params.full_ratio,
            "alert_within_s": self.params.alert_within_s,
            **_forecast_evidence(reading, fc),
            **extra,
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


def _forecast_evidence(reading: FacilityReading, fc: Forecast | None) -> dict[str, Any]:
    """Describe a forecast for the evidence (all None without one)."""
    if fc is None:
        return {
            "slope_per_h": None,
            "fitted_ratio": None,
            "time_to_full_s": None,
            "predicted_full_ms": None,
            "points": None,
        }
    eta = None if fc.time_to_full_s is None else round(fc.time_to_full_s, 1)
    full_ms = None if eta is None else reading.ts_ms + round(eta * 1000)
    return {
        "slope_per_h": round(fc.slope_per_h, 4),
        "fitted_ratio": round(fc.fitted_ratio, 4),
        "time_to_full_s": eta,
        "predicted_full_ms": full_ms,
        "points": fc.points,
    }


def step(
    state: FillForecastState,
    reading: FacilityReading,
    params: FillForecastParams,
    *,
    subject: str,
    matter_code: str,
    lon: float,
    lat: float,
) -> tuple[FillForecastState, list[Alert]]:
    """Advance one facility's forecast by a fill reading located at the facility."""
    if state.last_ts_ms is not None and reading.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_code, lon, lat, params)
    point = (reading.ts_ms, reading.fill_ratio)
    if emptied(state.points, reading.fill_ratio, params.empty_drop_ratio):
        new = FillForecastState(reading.ts_ms, (point,))
        start = state.episode_start_ms
        return new, [] if start is None else [emit.alert(Phase.CLEAR, reading, start, None, reason="emptied")]
    points = recent([*state.points, point], reading.ts_ms, params)
    new = replace(state, last_ts_ms=reading.ts_ms, points=points)
    fc = Forecast.of(points, params.full_ratio) if len(points) >= params.min_points else None
    return (new, []) if fc is None else _transition(new, reading, fc, emit)


def emptied(points: Sequence[Point], fill: float, drop: float) -> bool:
    """Tell whether a fill is lower than the window's highest by more than ``drop``."""
    return bool(points) and fill < max(f for _, f in points) - drop


def recent(points: Sequence[Point], now_ms: int, params: FillForecastParams) -> tuple[Point, ...]:
    """Keep the points of the last ``window_s`` (inclusive), at most ``max_points`` of the newest."""
    oldest = now_ms - round(params.window_s * 1000)
    return tuple(p for p in points if p[0] >= oldest)[-params.max_points :]


def _transition(
    state: FillForecastState, reading: FacilityReading, fc: Forecast, emit: _Emitter
) -> tuple[FillForecastState, list[Alert]]:
    """Open on an imminent full; clear when the trend no longer predicts it in time."""
    p, eta, start = emit.params, fc.time_to_full_s, state.episode_start_ms
    if start is None:
        if eta is None or eta > p.alert_within_s or reading.fill_ratio >= p.full_ratio:
            return state, []
        new = replace(state, episode_start_ms=reading.ts_ms)
        return new, [emit.alert(Phase.OPEN, reading, reading.ts_ms, fc)]
    receding = eta is None or eta > p.clear_factor * p.alert_within_s
    if reading.fill_ratio >= p.full_ratio or not receding:
        return state, []
    cleared = replace(state, episode_start_ms=None)
    return cleared, [emit.alert(Phase.CLEAR, reading, start, fc, reason="trend")]


def judge(state: FillForecastState, reading: FacilityReading, at: At) -> tuple[FillForecastState, list[Alert]]:
    """The catalog's entry: ``step`` with the facility's parameters and place."""
    return step(state, reading, at.params, subject=at.subject, matter_code=at.matter_code, lon=at.lon, lat=at.lat)


SPEC = RuleSpec(
    name=RULE,
    detects="满溢预警: a station or bin that the fill trend says will be full soon",
    reads=(FacilityReading,),
    judge=judge,
    order=30,
    state=FillForecastState,
    matter="06102",
    severity="INFO",
    params=FillForecastParams,
    computed="state, `FacilityReading`, params; `subject`, `matter_code`, facility `lon` / `lat`",
    follows="No standard: a forecast that dispatches ahead of the overflow event [S4]; the fit and thresholds are engineering choices",
)
