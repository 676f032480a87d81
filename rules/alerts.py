"""The alert a rule emits: an episode of one violation, opened, updated and cleared."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    """Where an alert stands in its episode."""

    OPEN = "open"
    UPDATE = "update"
    CLEAR = "clear"


class Severity(StrEnum):
    """How urgent the alert is for dispatch."""

    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


def alert_id(rule: str, subject: str, episode_start_ms: int) -> str:
    """Return the stable id of an episode, so replays and redeliveries are idempotent."""
    digest = hashlib.sha1(f"{rule}|{subject}|{episode_start_ms}".encode(), usedforsecurity=False).hexdigest()
    return f"{rule}-{digest[:16]}"


def late_alert_id(rule: str, subject: str, episode_start_ms: int) -> str:
    """Return the id of an episode judged from late positions (a blind-area upload): never a live episode's id."""
    return alert_id(rule, f"{subject}|late", episode_start_ms)


@dataclass(frozen=True, slots=True)
class Alert:
    """One phase of a violation episode, stamped with event time."""

    alert_id: str
    rule: str
    phase: Phase
    subject: str
    ts_ms: int
    episode_start_ms: int
    lon: float
    lat: float
    severity: Severity
    matter_code: str
    evidence: dict[str, Any] = field(default_factory=dict)
    grid_code: str = ""  # 万米单元网格 cell of (lon, lat); "" outside the grid
    unit: str = ""  # the unit responsible for that cell
    owner: str = ""  # transport company, site company or facility operator
    city_version: int = 0  # the city data (city.yaml version) it was judged under; 0: not recorded

    @property
    def end_ms(self) -> int | None:
        """Return when the episode ended (the clear's event time), None while it goes on."""
        return self.ts_ms if self.phase is Phase.CLEAR else None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        d = asdict(self)
        d["phase"] = self.phase.value
        d["severity"] = self.severity.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        """Build an alert from the dict ``to_dict`` made."""
        return cls(**{**d, "phase": Phase(d["phase"]), "severity": Severity(d["severity"])})
