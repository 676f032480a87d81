"""Build the ticket store and its parts from the process settings (the one place that does)."""

from __future__ import annotations

from typing import Any

from citywatch.city import load_city
from citywatch.configs import influx_config
from citywatch.settings import Settings
from devices.inventory import City
from streams.timeseries.schema import Tagger, TicketChange
from streams.timeseries.tap import open_writer, record_ticket_changes
from streams.timeseries.writer import TimeSeriesWriter
from tickets.config import TicketConfig, config_for_city
from tickets.lifecycle import AuditRecord
from tickets.routing import CityResolver
from tickets.store import TicketStore


def ticket_config(settings: Settings) -> TicketConfig:
    """Load the tickets config named by the settings (or the city's tickets.yaml)."""
    return config_for_city(settings.city_dir, settings.ticket_config)


class CaseTimeseries:
    """The store's on_change hook: each case lifecycle step becomes a ``ticket`` point (never blocks).

    ticket_id is the case number, state the stage entered (``closed`` at 结案, unchanged by 督办 /
    延期), rule the matter code (a case can join several rules' alerts), assignee the unit. Notes
    (audit action ``evidence``) change no stage and are not recorded.
    """

    def __init__(self, writer: TimeSeriesWriter, city: City) -> None:
        self.writer: TimeSeriesWriter | None = writer
        self.tagger = Tagger(city)

    def __call__(self, written: list[tuple[AuditRecord, dict[str, Any]]]) -> None:
        writer = self.writer
        changes = [self.change(audit, row) for audit, row in written if audit.action != "evidence"]
        if changes and writer is not None:
            record_ticket_changes(writer, changes)

    def change(self, audit: AuditRecord, row: dict[str, Any]) -> TicketChange:
        """Return the point of one audit record of a case row."""
        return TicketChange(
            str(row.get("case_no") or audit.case_id),
            audit.to_stage.value,
            audit.at_ms,
            row["matter_code"],
            row["subject"],
            self.tagger.district_at(row["lon"], row["lat"]),
            assignee=row.get("unit"),
        )

    def close(self) -> None:
        """Write what is pending and stop the writer (once)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()


def open_store(settings: Settings, city: City | None = None, config: TicketConfig | None = None) -> TicketStore:
    """Open (and migrate) the store the settings name, routing by the city's inventory; with an
    InfluxDB configured (influx_url) every case stage change is also written as a ``ticket`` point."""
    city = city if city is not None else load_city(settings.city_dir)
    config = config or ticket_config(settings)
    names = dict(getattr(city.meta, "matters", {}) or {})
    writer = open_writer(influx_config(settings))
    return TicketStore(
        settings.ticket_db_target(),
        config,
        CityResolver(config, city),
        matter_names=names,
        on_change=CaseTimeseries(writer, city) if writer else None,
    )
