"""Case grouping — one real-world violation = one case: decide which case an incoming alert belongs to.

(Not the rules' alert fusion, ``rules/fusion.py``, which merges a camera sighting with a sensor's alert
before any case exists.)

An alert joins the case that already holds its episode (same alert id). Otherwise it joins an
open case of the same matter about the same thing, at the same time:
- the same thing: the same subject; for a truck, the same plate (two trucks never share a case,
  whatever the distance); for a facility or site, the same place; evidence naming neither (a
  camera's plate-less sighting) joins a case within ``radius_m``;
- the same time: the case's violation is still on, or its last evidence is within ``window_ms``.
A place's violation recurring shortly after its case was closed reopens it; otherwise a
recurrence opens a new case linked to the old one (always so for a truck: a new trip, a new
violation). Pure: the store passes the candidate cases in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rules.geometry import distance_m
from tickets.lifecycle import Stage


@dataclass(frozen=True, slots=True)
class GroupingPolicy:
    """How close in space and time evidence must be to join a case."""

    radius_m: float = 150.0
    window_ms: int = 15 * 60_000
    reopen_within_ms: int = 7 * 86_400_000
    link_within_ms: int = 30 * 86_400_000


@dataclass(frozen=True, slots=True)
class Evidence:
    """What grouping needs to know about an incoming alert."""

    alert_id: str
    matter_code: str
    subject: str
    plate: str | None
    lon: float
    lat: float
    ts_ms: int
    place: str | None = None  # a facility's or site's name (None for trucks and for cameras)


@dataclass(frozen=True, slots=True)
class CaseRef:
    """What grouping needs to know about an existing case."""

    case_id: int
    stage: Stage
    matter_code: str
    subjects: frozenset[str]
    plates: frozenset[str]
    lon: float
    lat: float
    last_evidence_ms: int
    closed_ms: int | None
    alert_ids: frozenset[str] = frozenset()
    place: str | None = None
    violation_active: bool = False


Kind = Literal["attach", "open", "reopen", "open_linked"]


@dataclass(frozen=True, slots=True)
class Decision:
    """Where the evidence goes: attach to / reopen a case, or open a new (maybe linked) case."""

    kind: Kind
    case_id: int | None = None


def related(ev: Evidence, case: CaseRef, policy: GroupingPolicy) -> bool:
    """Tell whether the evidence is about the same thing as the case: same matter, same truck / place."""
    if ev.matter_code != case.matter_code:
        return False
    if ev.subject in case.subjects:
        return True
    if ev.plate is not None or case.plates:  # a truck on either side: the same plate, or not the same thing
        return ev.plate is not None and ev.plate in case.plates
    if ev.place is not None and case.place is not None:  # two facilities / sites never share a case
        return ev.place == case.place
    return distance_m(ev.lon, ev.lat, case.lon, case.lat) <= policy.radius_m


def concurrent(ev: Evidence, case: CaseRef, policy: GroupingPolicy) -> bool:
    """Tell whether the evidence is of the case's time: its violation is on, or was a moment ago."""
    return case.violation_active or abs(ev.ts_ms - case.last_evidence_ms) <= policy.window_ms


def decide(ev: Evidence, candidates: Sequence[CaseRef], policy: GroupingPolicy) -> Decision:
    """Return where the evidence belongs among the candidate cases."""
    for case in candidates:
        if ev.alert_id in case.alert_ids:
            return Decision("attach", case.case_id)
    near = sorted((c for c in candidates if related(ev, c, policy)), key=lambda c: -c.last_evidence_ms)
    for case in near:
        if case.stage not in (Stage.CLOSED, Stage.VOID) and concurrent(ev, case, policy):
            return Decision("attach", case.case_id)
    for case in near:
        if (
            case.stage is Stage.CLOSED
            and case.closed_ms is not None
            and not case.plates
            and 0 <= ev.ts_ms - case.closed_ms <= policy.reopen_within_ms
        ):
            return Decision("reopen", case.case_id)
    for case in near:
        if case.stage is not Stage.VOID and ev.ts_ms - case.last_evidence_ms <= policy.link_within_ms:
            return Decision("open_linked", case.case_id)
    return Decision("open")
