"""Hook the time series writer into the runners: the embedded tap, and ticket state changes."""

from __future__ import annotations

from devices.contracts import Message
from devices.inventory import City
from rules.alerts import Alert
from streams.timeseries.schema import (
    Tagger,
    TicketChange,
    alert_lines,
    event_lines,
    ticket_line,
)
from streams.timeseries.writer import InfluxConfig, TimeSeriesWriter


def open_writer(config: InfluxConfig | None) -> TimeSeriesWriter | None:
    """Return a writer for the InfluxDB configured, or None without one."""
    return TimeSeriesWriter(config) if config else None


def record_ticket_changes(writer: TimeSeriesWriter, changes: list[TicketChange], timeout: float = 0.0) -> bool:
    """Write ticket state changes (for the ticket service); never blocks longer than timeout."""
    return writer.offer([ticket_line(c) for c in changes], timeout)


class InfluxTap:
    """The embedded runner's tap: each batch becomes lines, enqueued without blocking (bounded)."""

    def __init__(self, writer: TimeSeriesWriter, city: City) -> None:
        self.writer = writer
        self.tagger = Tagger(city)

    def on_batch(self, events: list[Message], alerts: list[Alert]) -> None:
        """Enqueue the batch's points; past the writer's bound they are dropped and counted."""
        self.writer.offer(event_lines(events, self.tagger) + alert_lines(alerts, self.tagger))

    def close(self) -> None:
        """Write what is pending and stop the writer."""
        self.writer.close()


def open_tap(config: InfluxConfig | None, city: City) -> InfluxTap | None:
    """Return the embedded runner's InfluxDB tap, or None without an InfluxDB configured."""
    writer = open_writer(config)
    return InfluxTap(writer, city) if writer else None
