"""GPS anomalies: a fix that jumps impossibly far from the last trusted one (multipath, spoofing).

Each fix is compared with the last *trusted* fix (the anchor): it is *implausible* when it lies
more than ``min_jump_m`` away (great circle) and the implied speed exceeds ``max_speed_kmh``.
``step`` returns, besides state and alerts, whether the caller may trust the fix; an untrusted
fix must not reach the other vehicle rules (it would fake a deviation, a zone entry, a speed).

::

    anchor --plausible fix--> anchor moves to it (trusted; CLEAR if an episode is open)
    anchor --implausible fix--> suspect (untrusted; OPEN on the first of a run)
    suspect --next fix implausible from the anchor but plausible from the suspect--> re-anchor
           (trusted, CLEAR): two fixes agreeing with each other outvote one anchor, so a bad
           first fix, or a real move the anchor missed, cannot lock the truck out for good

A run of rejected fixes is one short episode (INFO, ``anomaly`` in the evidence). OPEN is placed
at the anchor, so the ticket lands in the grid cell where the truck really was; CLEAR at the
fix that ended the run, trusted by then. A long gap between fixes
makes a long move plausible, which is right: the silent-terminal rule owns gaps. Late or
duplicate fixes are ignored and reported untrusted (the other rules ignore them too): a speed is
never computed backwards in time. The vehicle pipeline checks a blind-area upload on a copy of
this state as it was before the gap (``rules/pipelines/late.py``), forward in time too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import build_alert
from rules.geometry import distance_m
from rules.state import FlatState

RULE = "gps_anomaly"
SEVERITY = Severity.INFO


class GpsAnomalyParams(Params):
    """GPS anomaly: a jump that implies an impossible speed."""

    max_speed_kmh: float = Field(default=180.0, gt=0.0)
    min_jump_m: float = Field(default=500.0, ge=0.0)


@dataclass(frozen=True, slots=True)
class GpsAnomalyState(FlatState):
    """The last trusted fix, the last rejected one, and the open episode if any."""

    last_ts_ms: int | None = None
    anchor_ts_ms: int | None = None
    anchor_lon: float = 0.0
    anchor_lat: float = 0.0
    suspect_ts_ms: int | None = None
    suspect_lon: float = 0.0
    suspect_lat: float = 0.0
    episode_start_ms: int | None = None
    rejected: int = 0
    max_jump_m: float = 0.0
    max_speed_kmh: float = 0.0


@dataclass(frozen=True, slots=True)
class Jump:
    """How far and how fast a fix moved from a reference fix."""

    distance_m: float
    speed_kmh: float

    def implausible(self, params: GpsAnomalyParams) -> bool:
        """Tell a jump no truck could have made."""
        return self.distance_m > params.min_jump_m and self.speed_kmh > params.max_speed_kmh


def jump(ts_ms: int, lon: float, lat: float, pos: VehiclePosition) -> Jump:
    """Return the jump from a reference fix to a position (strictly later)."""
    distance = distance_m(lon, lat, pos.lon, pos.lat)
    return Jump(distance, distance / ((pos.ts_ms - ts_ms) / 1000) * 3.6)


def step(
    state: GpsAnomalyState,
    pos: VehiclePosition,
    params: GpsAnomalyParams,
    *,
    subject: str,
    matter_code: str,
) -> tuple[GpsAnomalyState, list[Alert], bool]:
    """Judge a fix against the last trusted one; return state, alerts and whether to trust it."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, [], False  # late or duplicate: not for the other rules either
    if state.anchor_ts_ms is None:
        return _trust(state, pos, subject, matter_code, re_anchored=False)
    from_anchor = jump(state.anchor_ts_ms, state.anchor_lon, state.anchor_lat, pos)
    if not from_anchor.implausible(params):
        return _trust(state, pos, subject, matter_code, re_anchored=False)
    if state.suspect_ts_ms is not None:
        from_suspect = jump(state.suspect_ts_ms, state.suspect_lon, state.suspect_lat, pos)
        if not from_suspect.implausible(params):
            return _trust(state, pos, subject, matter_code, re_anchored=True)
    return _reject(state, pos, from_anchor, subject, matter_code)


def _trust(
    state: GpsAnomalyState,
    pos: VehiclePosition,
    subject: str,
    matter_code: str,
    *,
    re_anchored: bool,
) -> tuple[GpsAnomalyState, list[Alert], bool]:
    """Make the fix the anchor; close the episode if one is open."""
    new = GpsAnomalyState(last_ts_ms=pos.ts_ms, anchor_ts_ms=pos.ts_ms, anchor_lon=pos.lon, anchor_lat=pos.lat)
    if state.episode_start_ms is None:
        return new, [], True
    evidence = _evidence(state) | {"re_anchored": re_anchored}
    where = (pos.lon, pos.lat)
    return new, [_alert(Phase.CLEAR, state, pos.ts_ms, where, evidence, subject, matter_code)], True


def _reject(
    state: GpsAnomalyState, pos: VehiclePosition, j: Jump, subject: str, matter_code: str
) -> tuple[GpsAnomalyState, list[Alert], bool]:
    """Keep the anchor; remember the fix as the suspect; open the episode on the first one."""
    start = pos.ts_ms if state.episode_start_ms is None else state.episode_start_ms
    new = replace(
        state,
        last_ts_ms=pos.ts_ms,
        suspect_ts_ms=pos.ts_ms,
        suspect_lon=pos.lon,
        suspect_lat=pos.lat,
        episode_start_ms=start,
        rejected=state.rejected + 1,
        max_jump_m=max(state.max_jump_m, j.distance_m),
        max_speed_kmh=max(state.max_speed_kmh, j.speed_kmh),
    )
    if state.episode_start_ms is not None:
        return new, [], False
    evidence = _evidence(new) | {"fix_lon": pos.lon, "fix_lat": pos.lat}
    where = (state.anchor_lon, state.anchor_lat)
    return new, [_alert(Phase.OPEN, new, pos.ts_ms, where, evidence, subject, matter_code)], False


def _evidence(state: GpsAnomalyState) -> dict[str, Any]:
    """Return what every phase reports about the run of rejected fixes."""
    return {
        "anomaly": True,
        "anchor_ts_ms": state.anchor_ts_ms,
        "rejected": state.rejected,
        "max_jump_m": round(state.max_jump_m, 1),
        "max_implied_speed_kmh": round(state.max_speed_kmh, 1),
    }


def _alert(
    phase: Phase,
    episode: GpsAnomalyState,
    ts_ms: int,
    where: tuple[float, float],
    evidence: dict[str, Any],
    subject: str,
    matter_code: str,
) -> Alert:
    """Build the alert of this phase at a trusted location."""
    start = episode.episode_start_ms
    assert start is not None
    return build_alert(
        RULE,
        phase,
        subject=subject,
        ts_ms=ts_ms,
        start_ms=start,
        lon=where[0],
        lat=where[1],
        severity=SEVERITY,
        matter_code=matter_code,
        evidence=evidence,
    )


SPEC = RuleSpec(
    name=RULE,
    detects="an impossible jump between fixes (multipath, spoofing); the fix is kept from the other rules",
    reads=(VehiclePosition,),
    state=GpsAnomalyState,
    matter="03102",
    severity="INFO",
    params=GpsAnomalyParams,
    computed="state, `VehiclePosition`, params; `subject`, `matter_code`; returns `(state, alerts, trusted)`",
    follows="Implied speed between consecutive JT/T 808-2019 position reports (latitude / longitude in 10⁻⁶ degrees) by great-circle distance [S3]; the thresholds are engineering choices, no standard sets them",
)
