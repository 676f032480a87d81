"""Speeding (超速): over the speed limit for a minimum duration, with a tolerance band.

The limit is ``urban_limit_kmh`` unless the caller passes the limit of the road segment the
position is on (``limit_kmh``: 60 on an expressway, a per-segment limit of a JT/T 808 route, or
the city's ``roads.yaml``; ``segment_id`` names the segment in the evidence).
Each position is *speeding* (``speed_kmh > limit + tolerance_kmh``), *legal*
(``speed_kmh <= limit``) or in the band between them, where the current status holds::

    idle --speeding--> pending --lasted >= min_duration_s--> open (OPEN)
    pending | open --legal--> idle (CLEAR if open, silent if pending)

So a tolerance is also a hysteresis: a truck hovering just over the limit neither opens nor, once
open, clears. Evidence keeps the episode's peak speed and its largest excess over the limit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import EpisodeState, advance, alert_at, to_ms

RULE = "speeding"
SEVERITY = Severity.MAJOR


class SpeedingParams(Params):
    """Speeding: over the limit for a minimum duration."""

    urban_limit_kmh: float = Field(default=40.0, gt=0.0)
    tolerance_kmh: float = Field(default=0.0, ge=0.0)
    min_duration_s: float = Field(default=30.0, ge=0.0)


@dataclass(frozen=True, slots=True)
class SpeedingState(EpisodeState):
    """One vehicle's speeding episode with its peak speed and largest excess (km/h)."""

    max_speed_kmh: float = 0.0
    max_over_kmh: float = 0.0


def judge(speed_kmh: float, limit_kmh: float, tolerance_kmh: float) -> bool | None:
    """Return True when speeding, False when legal, None in the tolerance band."""
    if speed_kmh > limit_kmh + tolerance_kmh:
        return True
    return None if speed_kmh > limit_kmh else False


def step(
    state: SpeedingState,
    pos: VehiclePosition,
    params: SpeedingParams,
    *,
    subject: str,
    matter_code: str,
    limit_kmh: float | None = None,
    segment_id: str | None = None,
) -> tuple[SpeedingState, list[Alert]]:
    """Advance one vehicle's state by a position; ``limit_kmh`` (of road ``segment_id``) overrides the urban limit."""
    if state.is_stale(pos.ts_ms):
        return state, []  # late or duplicate: event time only moves forward
    limit = params.urban_limit_kmh if limit_kmh is None else limit_kmh
    speeding = judge(pos.speed_kmh, limit, params.tolerance_kmh)
    new, edge = advance(state, pos.ts_ms, speeding, to_ms(params.min_duration_s))
    if new.in_episode:
        new = replace(
            new,
            max_speed_kmh=max(new.max_speed_kmh, pos.speed_kmh),
            max_over_kmh=max(new.max_over_kmh, pos.speed_kmh - limit),
        )
    if edge is None:
        return new, []
    episode = state if edge is Phase.CLEAR else new
    alert = _alert(edge, pos, episode, limit, params.tolerance_kmh, subject, matter_code, segment_id)
    return new, [alert]


def _alert(
    phase: Phase,
    pos: VehiclePosition,
    episode: SpeedingState,
    limit_kmh: float,
    tolerance_kmh: float,
    subject: str,
    matter_code: str,
    segment_id: str | None,
) -> Alert:
    """Build the alert of this phase, with the peak speed (and the road segment, if any) as evidence."""
    start = episode.episode_start_ms
    assert start is not None
    evidence: dict[str, Any] = {
        "speed_kmh": pos.speed_kmh,
        "limit_kmh": limit_kmh,
        "tolerance_kmh": tolerance_kmh,
        "max_speed_kmh": episode.max_speed_kmh,
        "max_over_kmh": round(episode.max_over_kmh, 1),
        "duration_s": (pos.ts_ms - start) / 1000,
    }
    if segment_id is not None:
        evidence["segment_id"] = segment_id
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
    detects="超速: over the limit plus tolerance for a minimum duration",
    reads=(VehiclePosition,),
    state=SpeedingState,
    matter="08104",
    severity="MAJOR",
    params=SpeedingParams,
    computed="state, `VehiclePosition`, params; `subject`, `matter_code`; optional `limit_kmh` and `segment_id` (the lowest-limit road segment of `roads.yaml` containing the fix, for the vehicle's kind: `CityIndex.road_at` / `speed_limit_at`; None: urban default)",
    follows="A road's posted limit (道路交通安全法 §42; without signs, 实施条例 §45) [S8]; 40 km/h for muck trucks in town is a local rule (check the city's edition) [S6]; like JT/T 808-2019's overspeed alarm, alarm bit 1, with the terminal parameters 最高速度 (0x0055) and 超速持续时间 (0x0056) [S3]",
)
