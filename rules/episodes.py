"""Shared bookkeeping of debounced violation episodes, for the rules that fit the common shape.

Each event is judged *violating* (True), *compliant* (False) or *undecided* (None: a hysteresis
band, where the current status holds). One state machine per subject, driven by event time::

    idle --violating--> pending --violating, lasted >= min_ms since the first point--> open (OPEN)
    pending | open --compliant for >= clear_ms--> idle (CLEAR if it was open, silent if pending)

``clear_ms`` is given per event, so a rule can end an episode at once for one reason (the permit
window opened) and only after a while for another (the truck has been stopped for two minutes).
A violating point restarts the compliant clock. An undecided point extends an episode in
progress and changes nothing when idle.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.state import FlatState


@dataclass(frozen=True, slots=True)
class EpisodeState(FlatState):
    """The common part of a debounced rule's state; rules subclass it to add evidence fields."""

    last_ts_ms: int | None = None
    episode_start_ms: int | None = None
    compliant_since_ms: int | None = None
    is_open: bool = False

    @property
    def in_episode(self) -> bool:
        """Whether an episode is pending or open."""
        return self.episode_start_ms is not None

    def is_stale(self, ts_ms: int) -> bool:
        """Tell a late or duplicate event (not newer than the last one accepted)."""
        return self.last_ts_ms is not None and ts_ms <= self.last_ts_ms


E = TypeVar("E", bound=EpisodeState)


def advance(state: E, ts_ms: int, violating: bool | None, min_ms: int, clear_ms: int = 0) -> tuple[E, Phase | None]:
    """Move the episode by one judged event; return the new state and OPEN, CLEAR or None."""
    if violating is None:
        violating = state.in_episode
    if violating:
        return _extend(state, ts_ms, min_ms)
    if not state.in_episode:
        return replace(state, last_ts_ms=ts_ms), None
    since = ts_ms if state.compliant_since_ms is None else state.compliant_since_ms
    if ts_ms - since < clear_ms:
        return replace(state, last_ts_ms=ts_ms, compliant_since_ms=since), None
    return type(state)(last_ts_ms=ts_ms), Phase.CLEAR if state.is_open else None


def _extend(state: E, ts_ms: int, min_ms: int) -> tuple[E, Phase | None]:
    """Start or extend the episode; open it once it has lasted ``min_ms``."""
    start = ts_ms if state.episode_start_ms is None else state.episode_start_ms
    new = replace(state, last_ts_ms=ts_ms, episode_start_ms=start, compliant_since_ms=None)
    if new.is_open or ts_ms - start < min_ms:
        return new, None
    return replace(new, is_open=True), Phase.OPEN


def alert_at(
    rule: str,
    phase: Phase,
    pos: VehiclePosition,
    *,
    start_ms: int,
    subject: str,
    severity: Severity,
    matter_code: str,
    evidence: dict[str, Any],
) -> Alert:
    """Build one phase of an episode's alert, stamped with a position's time and place."""
    return build_alert(
        rule,
        phase,
        subject=subject,
        ts_ms=pos.ts_ms,
        start_ms=start_ms,
        lon=pos.lon,
        lat=pos.lat,
        severity=severity,
        matter_code=matter_code,
        evidence=evidence,
    )


def build_alert(
    rule: str,
    phase: Phase,
    *,
    subject: str,
    ts_ms: int,
    start_ms: int,
    lon: float,
    lat: float,
    severity: Severity,
    matter_code: str,
    evidence: dict[str, Any],
) -> Alert:
    """Build one phase of an episode's alert, with the episode's stable id."""
    return Alert(
        alert_id=alert_id(rule, subject, start_ms),
        rule=rule,
        phase=phase,
        subject=subject,
        ts_ms=ts_ms,
        episode_start_ms=start_ms,
        lon=lon,
        lat=lat,
        severity=severity,
        matter_code=matter_code,
        evidence=evidence,
    )


def to_ms(seconds: float) -> int:
    """Return a parameter in seconds as whole milliseconds."""
    return round(seconds * 1000)
