"""Wiring of ``citywatch tickets report``: the ticket store, the city inventory and InfluxDB into the
monthly report (``tickets/monthly.py``), written as PDF and CSV files."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from citywatch.city import load_city
from citywatch.settings import Settings
from citywatch.ticket_store import open_store, ticket_config
from devices.inventory import City
from tickets.config import TicketConfig
from tickets.monthly import CAMERA, Device, Month, MonthlyReport, Traffic, build
from tickets.report_csv import write_csv
from tickets.report_pdf import write_pdf

PUBLIC_CAMERAS = "城市视频监控 (AI 摄像头)"
BACKGROUND = "环境监测背景站"


def inventory_devices(city: City) -> list[Device]:
    """Return every device of the city with the owner it is graded under and its reporting interval."""
    every = city.meta.reporting
    return (
        [Device(v.terminal_id, "vehicle", v.company, every.vehicle_s) for v in city.vehicles]
        + [Device(f.device_id, "facility", f.operator or f.name, every.facility_s) for f in city.facilities]
        + [Device(s.device_id, "site", s.company or s.name, every.site_s) for s in city.sites]
        + [Device(b.device_id, "background", BACKGROUND, every.background_s) for b in city.background_stations]
        + [Device(c.device_id, CAMERA, c.operator or PUBLIC_CAMERAS, None) for c in city.cameras]
    )


def traffic(settings: Settings, month: Month) -> Traffic | None:
    """Return the devices' traffic in the month from InfluxDB, or None without one configured (the up
    minutes, not the clock, bound what is expected: a month still going on is graded on its minutes so far)."""
    from citywatch.configs import influx_config
    from dashboards.online import fetch

    config = influx_config(settings)
    if config is None:
        return None
    start = datetime.fromtimestamp(month.start_ms / 1000, UTC)
    stop = datetime.fromtimestamp(month.end_ms / 1000, UTC)
    with config.client() as client:
        found = fetch(client.query_api(), config.bucket, start, stop)
    return Traffic(found.received, found.up_minutes, found.statuses)


def matter_names(city: City, config: TicketConfig) -> dict[str, str]:
    """Return matter names: the ticket config's, else the city's matter table."""
    return {**dict(city.meta.matters), **{code: m.name for code, m in config.matters.items()}}


def make_report(settings: Settings, month_text: str, now_ms: int | None = None) -> MonthlyReport:
    """Return the monthly report of a month (YYYY-MM in the city's time zone)."""
    city = load_city(settings.city_dir)
    config = ticket_config(settings)
    month = Month.parse(month_text, city.meta.timezone)
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    store = open_store(settings.model_copy(update={"influx_url": None}), city, config)  # reads only: no writer
    try:
        cases = store.month(month.start_ms, month.end_ms, now)
    finally:
        store.close()
    points = {code: m.points for code, m in config.matters.items() if m.points is not None}
    return build(
        city.meta.name,
        month,
        cases,
        inventory_devices(city),
        traffic(settings, month),
        matter_names(city, config),
        config.scoring.points,
        points,
        now,
    )


def write_report(report: MonthlyReport, out: Path, font: Path | None = None) -> list[Path]:
    """Write the report's PDF and CSV files into out; return their paths, the PDF first."""
    pdf = write_pdf(report, out / f"report-{report.month.label}.pdf", font)
    return [pdf, *write_csv(report, out)]
