"""The ticket service: the store, the live read model, and the automatic sweeps (督办, 核查).

``tick(now_ms)`` supervises overdue cases and verifies cases whose evidence proves the work
done; ``start`` runs it every ``tick_s`` on a thread. The API (``tickets.api``) and the demo
use one ``TicketService``; the clock is injected so tests can drive time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from devices.city_edit import CityEditor
from devices.inventory import City
from rules.params import params_of
from rules.pm10 import Pm10Params
from tickets.auth import TokenBook
from tickets.config import TicketConfig, VerificationConfig
from tickets.live import LiveView
from tickets.store import TicketStore, wall_ms
from tickets.verification import Verdict, fill_drop_after_dwell, pm10_below

log = structlog.get_logger("tickets.service")
GRACE_MS = 600_000


@dataclass
class TicketService:
    """Everything the API serves, and the periodic automation."""

    store: TicketStore
    tokens: TokenBook
    live: LiveView = field(default_factory=LiveView)
    city: City | None = None
    clock: Callable[[], int] = wall_ms
    tick_s: float = 15.0
    health: dict[str, Callable[[], Any]] = field(default_factory=dict)
    editor: CityEditor | None = None  # the city data API's (``tickets.city_api``); None: it refuses changes

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0

    def use_city(self, city: City) -> None:
        """Serve a new city version: the console's map and vehicles, case routing, PM10 limits (any thread)."""
        self.city = city
        self.live.city = city
        self.store.use_city(city)

    @property
    def config(self) -> TicketConfig:
        """Return the tickets configuration."""
        return self.store.config

    def tick(self, now_ms: int | None = None) -> dict[str, int]:
        """Run one sweep: supervise overdue cases, verify cases by evidence."""
        now = now_ms if now_ms is not None else self.clock()
        done = {
            "supervised": self.store.escalate(now),
            "verified": self.verify_by_evidence(now),
            "suspended": len(self.store.enforce_suspensions(now)),
        }
        self.ticks += 1
        return done

    def verify_by_evidence(self, now_ms: int) -> int:
        """Verify every dispatched / handled case whose evidence proves it resolved; return how many."""
        verified = 0
        for row in self.store.verification_candidates():
            vc = self.config.verification[row["matter_code"]]
            verdict = self._verdict(row, vc, now_ms)
            if verdict is not None:
                self.store.verify(row["case_id"], verdict, now_ms)
                verified += 1
        return verified

    def _pm10_limit(self, vc: VerificationConfig) -> float:
        """Return the PM10 level a dust case must stay under: the config's, else the city's rule limit."""
        if vc.limit_ugm3 is not None:
            return vc.limit_ugm3
        return params_of(self.city).pm10.warn_ugm3 if self.city is not None else Pm10Params().warn_ugm3

    def _verdict(self, row: dict[str, Any], vc: VerificationConfig, now_ms: int) -> Verdict | None:
        since = row["dispatched_ms"] or row["stage_entered_ms"]
        if vc.kind == "pm10_below":
            return pm10_below(
                since, self.live.readings(row["subject"], since, now_ms), self._pm10_limit(vc), vc.hold_s * 1000
            )
        episodes = self.store.case_tickets(row["case_id"])
        if not episodes or any(t.violation == "active" for t in episodes):
            return None
        last = max(episodes, key=lambda t: t.cleared_ms or 0)
        visits = self.live.visits(
            row["lon"],
            row["lat"],
            vc.radius_m,
            vc.min_dwell_s * 1000,
            since,
            (last.cleared_ms or now_ms) + GRACE_MS,
            self.live.garbage_trucks(),
        )
        return fill_drop_after_dwell(since, last.cleared_ms, last.evidence.get("fill_ratio"), visits, GRACE_MS)

    def start(self) -> None:
        """Run tick() every tick_s seconds on a thread until stop()."""
        self._thread = threading.Thread(target=self._run, name="ticket-automation", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception as exc:
                log.error("tickets.tick_failed", error=repr(exc))

    def running(self) -> bool:
        """Tell whether the automation thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the automation thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
