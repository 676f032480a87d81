"""The last alerts for the demo's screen, kept by a runner tap (each device's latest telemetry: ``tickets.live.LiveView``)."""

from __future__ import annotations

import threading

from devices.contracts import Message
from rules.alerts import Alert


class RecentAlerts:
    """A runner tap keeping the last alerts (read from the demo's screen thread)."""

    def __init__(self, keep: int = 50) -> None:
        self.keep = keep
        self._alerts: list[Alert] = []
        self._lock = threading.Lock()

    def on_batch(self, events: list[Message], alerts: list[Alert]) -> None:
        """Keep the batch's alerts."""
        if alerts:
            with self._lock:
                self._alerts = (self._alerts + alerts)[-self.keep :]

    def recent(self) -> list[Alert]:
        """Return the last alerts, oldest first."""
        with self._lock:
            return list(self._alerts)
