"""Readable timelines for rule tests: compact rows in, events out, alerts summarised.

Times in the tables are seconds after ``T0_MS``; summaries report alerts the same way, so a
golden case reads as a table on the left and the expected ``(phase, t_s, episode_start_s)`` on
the right.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from typing import Any, Protocol, Self, TypeVar

from devices.contracts import FacilityReading, LoadState, VehiclePosition
from rules.alerts import Alert

T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEVICE = "MT-0001"
LON, LAT = 114.30, 30.60


class Serialisable(Protocol):
    """A rule state that a faust table can hold."""

    def to_dict(self) -> dict[str, Any]: ...

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self: ...


S = TypeVar("S", bound=Serialisable)
E = TypeVar("E")


def ms(t_s: float) -> int:
    """Return the epoch ms of a timeline time in seconds."""
    return T0_MS + round(t_s * 1000)


def position(
    t_s: float,
    *,
    speed_kmh: float = 30.0,
    load: str = "full",
    cover: bool | None = True,
    lifted: bool | None = None,
    heading_deg: float = 90.0,
    lon_per_s: float = 0.0,
    seq: int = 0,
) -> VehiclePosition:
    """Build a muck-truck position at timeline time ``t_s`` (``lon_per_s``: drift east, so places differ)."""
    return VehiclePosition(
        device_id=DEVICE,
        ts_ms=ms(t_s),
        seq=seq,
        lon=LON + t_s * lon_per_s,
        lat=LAT,
        speed_kmh=speed_kmh,
        heading_deg=heading_deg,
        load_state=LoadState(load),
        cover_closed=cover,
        body_lifted=lifted,
    )


def reading(t_s: float, fill_ratio: float, seq: int = 0) -> FacilityReading:
    """Build a facility fill reading at timeline time ``t_s``."""
    return FacilityReading(device_id="ST-0001", ts_ms=ms(t_s), seq=seq, fill_ratio=fill_ratio)


def json_round_trip(state: S) -> S:
    """Pass a state through JSON the way a faust table changelog would."""
    return type(state).from_dict(json.loads(json.dumps(state.to_dict())))


def run(
    step: Callable[[S, E], tuple[S, list[Alert]]],
    state: S,
    events: Iterable[E],
    *,
    restart: bool = False,
) -> tuple[S, list[Alert]]:
    """Feed events through a rule; with ``restart`` reload the state from JSON before each one."""
    alerts: list[Alert] = []
    for event in events:
        if restart:
            state = json_round_trip(state)
        state, out = step(state, event)
        alerts += out
    return state, alerts


def summary(alerts: Iterable[Alert]) -> list[tuple[str, float, float]]:
    """Return ``(phase, t_s, episode_start_s)`` per alert, in timeline seconds."""
    return [(a.phase.value, seconds(a.ts_ms), seconds(a.episode_start_ms)) for a in alerts]


def seconds(ts_ms: int) -> float:
    """Return the timeline time in seconds of an epoch-ms timestamp."""
    return (ts_ms - T0_MS) / 1000


def from_gaps(steps: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Turn rows of ``(gap_s, ...)`` into rows of ``(t_s, ...)``: strictly increasing times."""
    times = accumulate(float(s[0]) for s in steps)
    return [(t, *s[1:]) for t, s in zip(times, steps, strict=True)]


def check_grammar(alerts: list[Alert]) -> None:
    """Assert alerts form episodes OPEN (UPDATE)* CLEAR, one id per episode, in time order."""
    current: str | None = None
    for a in alerts:
        if a.phase.value == "open":
            assert current is None, f"OPEN while {current} is open"
            current = a.alert_id
        else:
            assert current == a.alert_id, f"{a.phase.value} for {a.alert_id}, open is {current}"
            current = None if a.phase.value == "clear" else current
    assert [a.ts_ms for a in alerts] == sorted(a.ts_ms for a in alerts)
