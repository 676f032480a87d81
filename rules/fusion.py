"""Fusion of alerts: camera, GPS and sensor alerts of one real-world violation become one alert.

The caller keys a ``FusionState`` by a *fusion key*: the plate for vehicle alerts and
plate-bearing camera alerts (``by_plate=True``), else the grid cell (万米单元网格) of the alert.
The state holds *groups*: the first-opened alert of a violation (the survivor) and the alerts
fused into it (contributors). For each alert the rule emits ``fuse(state, alert, key, params)``:

- an OPEN whose matter code equals a group's, that lies within ``window_s`` of a member's alerts
  (its first to its last) and within ``radius_m`` of its place, while that member was open (still
  open, or its CLEAR is later than the OPEN), joins that group and is re-issued as an UPDATE of
  the survivor's id. A plate-keyed match may be further apart by what a truck covers in the time
  between them at ``vehicle_speed_kmh``. Otherwise it starts a group and passes unchanged;
- any later phase of a member is re-issued under the survivor's id (alone in its group, a
  member's alerts pass unchanged);
- a member's CLEAR is absorbed while another member is still open; the last one clears the
  survivor. So the survivor lives until all its contributors have cleared.

Membership is decided in event time, so it does not depend on arrival order: in the stack a
camera's sighting may open and clear (its partition's clock runs ahead) before the GPS alert of
the same moment arrives from a busier partition. A cleared group is therefore kept for
``window_s`` after its last alert; an OPEN from the time it was open still joins it, and the
survivor, already cleared, gets an UPDATE with the new source (and a CLEAR again once that
source clears, unless the survivor's CLEAR already carried a later time).

Re-issued alerts keep the incoming evidence and add ``sources`` (per member: alert id, rule,
subject, open, event ids, image refs), ``fused_alert_id``, ``fused_ts_ms`` and ``fusion_key``;
their time is the later of the incoming alert's and the group's, so the survivor's phases stay in
time order when sources arrive out of order. Severity is the highest seen in the group; grid
cell, unit and owner are the survivor's (filled in from later members when empty). At most
``max_tracked`` groups stay per key: the stalest is dropped (silently) to make room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from rules.alerts import Alert, Phase, Severity
from rules.camera import RULE as CAMERA_RULE
from rules.camera import CameraFusionParams, bounded, distance_m


@dataclass(frozen=True, slots=True)
class Member:
    """One alert fused into a group: where and when it last spoke, and what it showed."""

    alert_id: str
    rule: str
    subject: str
    is_open: bool
    ts_ms: int
    lon: float
    lat: float
    event_ids: tuple[str, ...] = ()
    image_refs: tuple[str, ...] = ()
    first_ts_ms: int | None = None  # when it opened (None in state written before this field)

    def seconds_from(self, ts_ms: int) -> float:
        """Return how far an instant lies from the member's alerts (0 between its first and last)."""
        first = self.ts_ms if self.first_ts_ms is None else self.first_ts_ms
        return max(0, first - ts_ms, ts_ms - self.ts_ms) / 1000

    def source(self) -> dict[str, Any]:
        """Return this member as an entry of the evidence's ``sources``."""
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "subject": self.subject,
            "open": self.is_open,
            "ts_ms": self.ts_ms,
            "event_ids": list(self.event_ids),
            "image_refs": list(self.image_refs),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Member:
        """Rebuild a member from its ``asdict`` form after JSON."""
        return cls(**{**d, "event_ids": tuple(d["event_ids"]), "image_refs": tuple(d["image_refs"])})


@dataclass(frozen=True, slots=True)
class Group:
    """A survivor alert and the alerts fused into it (the survivor is the first member)."""

    alert_id: str
    rule: str
    subject: str
    matter_code: str
    episode_start_ms: int
    severity: str
    last_ts_ms: int
    members: tuple[Member, ...]
    grid_code: str = ""  # the survivor's location context, filled in by later members if empty
    unit: str = ""
    owner: str = ""
    cleared_ts_ms: int | None = None  # when the survivor's CLEAR went out, if it did

    @property
    def is_open(self) -> bool:
        """Tell whether any member is still open."""
        return any(m.is_open for m in self.members)

    def member(self, alert_id: str) -> Member | None:
        """Return the member with this alert id, if any."""
        return next((m for m in self.members if m.alert_id == alert_id), None)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Group:
        """Rebuild a group from its ``asdict`` form after JSON."""
        return cls(**{**d, "members": tuple(Member.from_dict(m) for m in d["members"])})


@dataclass(frozen=True, slots=True)
class FusionState:
    """The recent groups of one fusion key (a plate or a grid cell)."""

    groups: tuple[Group, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        return {"groups": [asdict(g) for g in self.groups]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FusionState:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(tuple(Group.from_dict(g) for g in d["groups"]))


def fuse(
    state: FusionState, alert: Alert, key: str, params: CameraFusionParams, *, by_plate: bool = False
) -> tuple[FusionState, list[Alert]]:
    """Fuse one alert into the groups of its key; return the state and the alert(s) to publish."""
    state = _forget_closed(state, alert.ts_ms - round(params.window_s * 1000))
    group = next((g for g in state.groups if g.member(alert.alert_id) is not None), None)
    if group is not None:
        return _known(state, group, alert, key, params)
    if alert.phase is not Phase.OPEN:
        return state, [alert]  # a phase of an alert this key never saw open: not ours to rewrite
    group = next((g for g in state.groups if joins(g, alert, params, by_plate)), None)
    if group is None:
        return _start(state, alert, params), [alert]
    grown = replace(group, members=(*group.members, _member(alert, None, params)))
    return _reissue(state, group, grown, alert, key, Phase.UPDATE)


def joins(group: Group, alert: Alert, params: CameraFusionParams, by_plate: bool) -> bool:
    """Tell whether an opening alert shows the same violation as an open member of a group.

    A camera sighting confirms a GPS or sensor alert of the same matter (and other cameras'
    sightings); two different GPS / sensor rules of one truck are two violations, never merged, and
    so are two devices' alerts (two stations near one camera, two trucks in one cell).
    """
    with_camera = alert.rule == CAMERA_RULE or any(m.rule == CAMERA_RULE for m in group.members)
    other_device = alert.rule != CAMERA_RULE and any(
        m.rule != CAMERA_RULE and m.subject != alert.subject for m in group.members
    )
    return (
        with_camera
        and not other_device
        and group.matter_code == alert.matter_code
        and any((m.is_open or alert.ts_ms < m.ts_ms) and _near(m, alert, params, by_plate) for m in group.members)
    )


def _near(m: Member, alert: Alert, params: CameraFusionParams, by_plate: bool) -> bool:
    """Tell whether an alert is within the time window and the (speed-widened) radius of a member."""
    dt_s = m.seconds_from(alert.ts_ms)
    if dt_s > params.window_s:
        return False
    reach_m = params.radius_m + (params.vehicle_speed_kmh / 3.6 * dt_s if by_plate else 0.0)
    return distance_m(m.lon, m.lat, alert.lon, alert.lat) <= reach_m


def _known(
    state: FusionState, group: Group, alert: Alert, key: str, params: CameraFusionParams
) -> tuple[FusionState, list[Alert]]:
    """Carry a further phase of a member: re-issue it under the survivor, or absorb a CLEAR."""
    old = group.member(alert.alert_id)
    members = tuple(_member(alert, m, params) if m is old else m for m in group.members)
    grown = replace(group, members=members, last_ts_ms=max(group.last_ts_ms, alert.ts_ms))
    if len(members) == 1:
        cleared = alert.ts_ms if alert.phase is Phase.CLEAR else grown.cleared_ts_ms
        return _store(state, group, replace(grown, cleared_ts_ms=cleared)), [alert]
    if alert.phase is Phase.CLEAR:
        phase = Phase.CLEAR if not grown.is_open and not _cleared_by(group, alert) else None
    else:
        phase = Phase.OPEN if alert.alert_id == group.alert_id and alert.phase is Phase.OPEN else Phase.UPDATE
    if phase is None:
        return _store(state, group, grown), []
    return _reissue(state, group, grown, alert, key, phase)


def _cleared_by(group: Group, alert: Alert) -> bool:
    """Tell whether the survivor's CLEAR already went out at or after the time this one would carry."""
    return group.cleared_ts_ms is not None and max(alert.ts_ms, group.last_ts_ms) <= group.cleared_ts_ms


def _reissue(
    state: FusionState, old: Group, group: Group, alert: Alert, key: str, phase: Phase
) -> tuple[FusionState, list[Alert]]:
    """Publish an alert under the survivor's id with the merged evidence; drop the group once cleared."""
    ts_ms = max(alert.ts_ms, old.last_ts_ms)
    severity = max(Severity(old.severity), alert.severity, key=list(Severity).index)
    group = replace(
        group,
        severity=severity.value,
        last_ts_ms=ts_ms,
        grid_code=group.grid_code or alert.grid_code,
        unit=group.unit or alert.unit,
        owner=group.owner or alert.owner,
    )
    evidence = {
        **alert.evidence,
        "sources": [m.source() for m in group.members],
        "fused_alert_id": alert.alert_id,
        "fused_ts_ms": alert.ts_ms,
        "fusion_key": key,
    }
    out = replace(
        alert,
        alert_id=group.alert_id,
        rule=group.rule,
        phase=phase,
        subject=group.subject,
        ts_ms=ts_ms,
        episode_start_ms=group.episode_start_ms,
        severity=severity,
        matter_code=group.matter_code,
        evidence=evidence,
        grid_code=group.grid_code,
        unit=group.unit,
        owner=group.owner,
    )
    if phase is Phase.CLEAR:
        group = replace(group, cleared_ts_ms=ts_ms)
    return _store(state, old, group), [out]


def _start(state: FusionState, alert: Alert, params: CameraFusionParams) -> FusionState:
    """Start a group with an alert as its survivor, dropping the stalest groups beyond the bound."""
    group = Group(
        alert.alert_id,
        alert.rule,
        alert.subject,
        alert.matter_code,
        alert.episode_start_ms,
        alert.severity.value,
        alert.ts_ms,
        (_member(alert, None, params),),
        alert.grid_code,
        alert.unit,
        alert.owner,
    )
    stalest_first = sorted(state.groups, key=lambda g: g.last_ts_ms)
    dropped = stalest_first[: max(0, len(stalest_first) + 1 - params.max_tracked)]
    return FusionState((*(g for g in state.groups if g not in dropped), group))


def _store(state: FusionState, old: Group, new: Group) -> FusionState:
    """Replace a group in the state."""
    return FusionState(tuple(g if g is not old else new for g in state.groups))


def _forget_closed(state: FusionState, before_ms: int) -> FusionState:
    """Drop the cleared groups whose last alert is older than ``before_ms``: no OPEN can join them now."""
    kept = tuple(g for g in state.groups if g.is_open or g.last_ts_ms >= before_ms)
    return state if len(kept) == len(state.groups) else FusionState(kept)


def _member(alert: Alert, old: Member | None, params: CameraFusionParams) -> Member:
    """Return a member as of an alert: its place, time, openness and accumulated refs."""
    member = old or Member(
        alert.alert_id, alert.rule, alert.subject, True, alert.ts_ms, alert.lon, alert.lat, first_ts_ms=alert.ts_ms
    )
    event_ids, image_refs = member.event_ids, member.image_refs
    for ref in _refs(alert.evidence, "event_id"):
        event_ids = bounded(event_ids, ref, params.max_image_refs)
    for ref in _refs(alert.evidence, "image_ref"):
        image_refs = bounded(image_refs, ref, params.max_image_refs)
    return replace(
        member,
        is_open=alert.phase is not Phase.CLEAR,
        ts_ms=max(member.ts_ms, alert.ts_ms),
        lon=alert.lon,
        lat=alert.lat,
        event_ids=event_ids,
        image_refs=image_refs,
    )


def _refs(evidence: Mapping[str, Any], name: str) -> list[str]:
    """Return the refs an alert's evidence names, singly (``image_ref``) or as a list (``image_refs``)."""
    refs = [*(evidence.get(f"{name}s") or []), evidence.get(name)]
    return [r for r in refs if isinstance(r, str)]
