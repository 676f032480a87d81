"""Route-corridor deviation (线路偏移): a muck truck outside its permit corridor for too long.

One state machine per vehicle, driven by event time only::

    idle --outside--> pending --outside for >= min_duration_s--> open (OPEN)
    open --back inside--> idle (CLEAR)
    pending --back inside--> idle (nothing emitted: a short excursion is noise or a detour)

A point is *outside* when its distance exceeds ``corridor_m`` and *back inside* when it is within
``corridor_m - hysteresis_m``; a point between the two keeps the current status, so a truck driving
along the corridor edge cannot flap. The caller computes the distance (``rules.geometry.Corridor``),
which lets an engine vectorise a batch of positions against one cached corridor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import alert_at
from rules.state import FlatState

RULE = "route_deviation"
SEVERITY = Severity.MAJOR


class RouteDeviationParams(Params):
    """Route-corridor deviation (线路偏移)."""

    min_duration_s: float = Field(default=30.0, ge=0.0)
    hysteresis_m: float = Field(default=10.0, ge=0.0)


@dataclass(frozen=True, slots=True)
class RouteDeviationState(FlatState):
    """One vehicle's deviation episode: none, pending (not long enough yet) or open."""

    last_ts_ms: int | None = None
    episode_start_ms: int | None = None
    is_open: bool = False
    max_distance_m: float = 0.0

    @property
    def in_episode(self) -> bool:
        """Whether the vehicle is currently counted as outside (pending or open)."""
        return self.episode_start_ms is not None


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares: who, which matter, which permit."""

    subject: str
    matter_code: str
    permit_id: str
    corridor_m: float

    def alert(self, phase: Phase, pos: VehiclePosition, start_ms: int, peak_m: float, distance_m: float) -> Alert:
        """Build the alert for this phase of the episode, located at the current position."""
        evidence = {
            "permit_id": self.permit_id,
            "corridor_m": self.corridor_m,
            "distance_m": round(distance_m, 1),
            "max_distance_m": round(peak_m, 1),
            "duration_s": (pos.ts_ms - start_ms) / 1000,
        }
        return alert_at(
            RULE,
            phase,
            pos,
            start_ms=start_ms,
            subject=self.subject,
            severity=SEVERITY,
            matter_code=self.matter_code,
            evidence=evidence,
        )


def step(
    state: RouteDeviationState,
    pos: VehiclePosition,
    distance_m: float,
    corridor_m: float,
    params: RouteDeviationParams,
    *,
    subject: str,
    matter_code: str,
    permit_id: str,
) -> tuple[RouteDeviationState, list[Alert]]:
    """Advance one vehicle's state by a position and its distance (m) to the permit corridor."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_code, permit_id, corridor_m)
    if is_outside(state.in_episode, distance_m, corridor_m, params.hysteresis_m):
        return _stay_outside(state, pos, distance_m, round(params.min_duration_s * 1000), emit)
    return _come_back(state, pos, distance_m, emit)


def is_outside(in_episode: bool, distance_m: float, corridor_m: float, hysteresis_m: float) -> bool:
    """Classify a point; between the two thresholds the current status holds."""
    if distance_m > corridor_m:
        return True
    if distance_m <= max(corridor_m - hysteresis_m, 0.0):
        return False
    return in_episode


def _stay_outside(
    state: RouteDeviationState, pos: VehiclePosition, distance_m: float, min_ms: int, emit: _Emitter
) -> tuple[RouteDeviationState, list[Alert]]:
    """Start or extend the episode; open it once it has lasted long enough."""
    start = pos.ts_ms if state.episode_start_ms is None else state.episode_start_ms
    peak = max(state.max_distance_m, distance_m)
    new = replace(state, last_ts_ms=pos.ts_ms, episode_start_ms=start, max_distance_m=peak)
    if new.is_open or pos.ts_ms - start < min_ms:
        return new, []
    new = replace(new, is_open=True)
    return new, [emit.alert(Phase.OPEN, pos, start, peak, distance_m)]


def _come_back(
    state: RouteDeviationState, pos: VehiclePosition, distance_m: float, emit: _Emitter
) -> tuple[RouteDeviationState, list[Alert]]:
    """End the episode; clear it if it was open, drop it silently if it was only pending."""
    idle = RouteDeviationState(last_ts_ms=pos.ts_ms)
    if not state.is_open or state.episode_start_ms is None:
        return idle, []
    start, peak = state.episode_start_ms, state.max_distance_m
    return idle, [emit.alert(Phase.CLEAR, pos, start, peak, distance_m)]


SPEC = RuleSpec(
    name=RULE,
    detects="线路偏移: a muck truck outside its permit corridor for too long",
    reads=(VehiclePosition,),
    state=RouteDeviationState,
    matter="08101",
    severity="MAJOR",
    params=RouteDeviationParams,
    computed="state, `VehiclePosition`, distance to the corridor (m, from `geometry.Corridor`), `permit.corridor_m`, params; `subject`, `matter_code`, `permit_id`",
    follows="Route named in the truck's permit (准运证): 城市建筑垃圾管理规定 (carry the 核准 document, run on the routes and at the hours the city sets) and the city's 建筑垃圾管理办法 [S5, S6]; 大气污染防治法 (vehicles carrying 渣土 keep to the prescribed route) [S7]; the corridor is JT/T 808-2019's route with a per-segment width (设置路线, 路段宽度) and its route-deviation alarm, alarm bit 23 [S3]. `min_duration_s` and `hysteresis_m` are local practice (GPS noise must not flap)",
)
