"""What the demo's screen and a console started later need from the embedded runner, kept by a tap."""

from __future__ import annotations

import threading

from devices.contracts import DeviceStatus, Message
from rules.alerts import Alert


class RecentActivity:
    """A runner tap: each device's latest telemetry and the last alerts (read from other threads)."""

    def __init__(self, keep_alerts: int = 50) -> None:
        self.keep_alerts = keep_alerts
        self._latest: dict[str, Message] = {}
        self._alerts: list[Alert] = []
        self._lock = threading.Lock()

    def on_batch(self, events: list[Message], alerts: list[Alert]) -> None:
        """Keep the batch's newest telemetry per device and its alerts."""
        with self._lock:
            for event in events:
                shown = self._latest.get(event.device_id)
                if not isinstance(event, DeviceStatus) and (shown is None or event.ts_ms >= shown.ts_ms):
                    self._latest[event.device_id] = event  # a late (blind-area) fix does not move the truck back
            if alerts:
                self._alerts = (self._alerts + alerts)[-self.keep_alerts :]

    def latest(self) -> list[Message]:
        """Return each device's latest telemetry (status messages aside)."""
        with self._lock:
            return list(self._latest.values())

    def recent_alerts(self) -> list[Alert]:
        """Return the last alerts, oldest first."""
        with self._lock:
            return list(self._alerts)
