"""Uncovered load (未密闭): a loaded muck truck driving with its cover open.

Each position is one of four conditions:

- *violating*: ``cover_closed is False``, ``load_state`` not empty, ``speed_kmh >= min_speed_kmh``;
- *secured*: the cover is closed or the truck is empty;
- *paused*: cover open and loaded but slower than ``min_speed_kmh`` (stopped, queueing);
- *unknown*: ``cover_closed is None`` (no sensor): not evidence either way, treated like *paused*.

One state machine per vehicle, driven by event time only::

    idle --violating--> pending --violating time >= min_duration_s--> open (OPEN)
    pending | open --secured--> idle (CLEAR if it was open, silent if pending)
    paused / unknown: nothing changes except that the clock stops

The clock counts *violating time*: the intervals between consecutive violating positions. A pause
neither clears an open alert (stopping does not close a cover) nor resets a pending episode; it
only stops the clock, so queueing at a light with the cover open counts as neither driving nor
compliance. Only a closed cover or an empty body ends the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from pydantic import Field

from devices.contracts import LoadState, VehiclePosition
from rules.alerts import Alert, Phase, Severity
from rules.catalog import Params, RuleSpec
from rules.episodes import alert_at
from rules.state import FlatState

RULE = "uncovered_load"
SEVERITY = Severity.MAJOR


class UncoveredLoadParams(Params):
    """Uncovered load (未密闭): cover open while loaded and moving."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=20.0, ge=0.0)


class Condition(StrEnum):
    """What one position says about the load."""

    VIOLATING = "violating"
    SECURED = "secured"
    PAUSED = "paused"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class UncoveredLoadState(FlatState):
    """One vehicle's uncovered-load episode: none, pending or open."""

    last_ts_ms: int | None = None
    episode_start_ms: int | None = None
    violating_ms: int = 0
    last_violating_ts_ms: int | None = None  # None when the clock is stopped
    is_open: bool = False


@dataclass(frozen=True, slots=True)
class _Emitter:
    """What every alert of one step shares."""

    subject: str
    matter_code: str

    def alert(self, phase: Phase, pos: VehiclePosition, state: UncoveredLoadState, start_ms: int) -> Alert:
        """Build the alert for this phase of the episode, located at the current position."""
        evidence = {
            "load_state": pos.load_state.value,
            "cover_closed": pos.cover_closed,
            "speed_kmh": pos.speed_kmh,
            "violating_s": state.violating_ms / 1000,
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


def classify(pos: VehiclePosition, min_speed_kmh: float) -> Condition:
    """Return what this position says about the load."""
    if pos.cover_closed is None:
        return Condition.UNKNOWN
    if pos.cover_closed or pos.load_state is LoadState.EMPTY:
        return Condition.SECURED
    return Condition.VIOLATING if pos.speed_kmh >= min_speed_kmh else Condition.PAUSED


def step(
    state: UncoveredLoadState,
    pos: VehiclePosition,
    params: UncoveredLoadParams,
    *,
    subject: str,
    matter_code: str,
) -> tuple[UncoveredLoadState, list[Alert]]:
    """Advance one vehicle's uncovered-load state by a position."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    emit = _Emitter(subject, matter_code)
    condition = classify(pos, params.min_speed_kmh)
    if condition is Condition.VIOLATING:
        return _violating(state, pos, round(params.min_duration_s * 1000), emit)
    if condition is Condition.SECURED:
        return _secured(state, pos, emit)
    return replace(state, last_ts_ms=pos.ts_ms, last_violating_ts_ms=None), []


def _violating(
    state: UncoveredLoadState, pos: VehiclePosition, min_ms: int, emit: _Emitter
) -> tuple[UncoveredLoadState, list[Alert]]:
    """Run the clock; open the episode once the violating time is long enough."""
    start = pos.ts_ms if state.episode_start_ms is None else state.episode_start_ms
    since = state.last_violating_ts_ms
    gained = 0 if since is None else pos.ts_ms - since
    new = replace(
        state,
        last_ts_ms=pos.ts_ms,
        episode_start_ms=start,
        violating_ms=state.violating_ms + gained,
        last_violating_ts_ms=pos.ts_ms,
    )
    if new.is_open or new.violating_ms < min_ms:
        return new, []
    new = replace(new, is_open=True)
    return new, [emit.alert(Phase.OPEN, pos, new, start)]


def _secured(state: UncoveredLoadState, pos: VehiclePosition, emit: _Emitter) -> tuple[UncoveredLoadState, list[Alert]]:
    """End the episode; clear it if it was open, drop it silently if it was only pending."""
    idle = UncoveredLoadState(last_ts_ms=pos.ts_ms)
    if not state.is_open or state.episode_start_ms is None:
        return idle, []
    return idle, [emit.alert(Phase.CLEAR, pos, state, state.episode_start_ms)]


SPEC = RuleSpec(
    name=RULE,
    detects="未密闭 / 抛洒滴漏: a loaded truck driving with its cover open",
    reads=(VehiclePosition,),
    state=UncoveredLoadState,
    matter="08011",
    severity="MAJOR",
    params=UncoveredLoadParams,
    computed="state, `VehiclePosition`, params; `subject`, `matter_code`",
    follows="Loads carried sealed, nothing spilled: 大气污染防治法 (vehicles carrying 渣土 and other bulk material closed or otherwise kept from spilling) [S7], 城市建筑垃圾管理规定 (no dropping or spilling) [S5], the city's 建筑垃圾管理办法 [S6]; load from JT/T 808-2019 status bits 8–9 (空车 / 半载 / 满载) [S3], cover from the terminal's extended 密闭 signal (vendor extension)",
)
