"""Time series sink: events, alerts and ticket changes as InfluxDB points (see the README's schema)."""

from streams.timeseries.schema import Tagger, alert_lines, event_lines, ticket_line
from streams.timeseries.writer import InfluxConfig, TimeSeriesWriter, WriterStats

__all__ = [
    "InfluxConfig",
    "Tagger",
    "TimeSeriesWriter",
    "WriterStats",
    "alert_lines",
    "event_lines",
    "ticket_line",
]
