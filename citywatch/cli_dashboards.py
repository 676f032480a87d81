"""``citywatch dashboards``: export the dashboards as files, push them to Grafana, draw a PNG report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from citywatch.settings import REPO_ROOT, Settings, explain
from dashboards.basemap import MapSettings
from rules.params import params_of

DASHBOARDS_DIR = REPO_ROOT / "dashboards"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


@click.group("dashboards")
def dashboards() -> None:
    """Grafana dashboards as code: export, push, report."""


@dashboards.command("export")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=DASHBOARDS_DIR, show_default=True)
@click.pass_obj
def export(settings: Settings, out: Path) -> None:
    """Write the dashboards (json/, with the city's limits) and the corridor map layer (geo/) for file provisioning."""
    from citywatch.city import load_city
    from dashboards.basemap import DATUM
    from dashboards.build import dashboards as boards
    from dashboards.geo import write_layers

    city = load_city(settings.city_dir)
    written = boards(params_of(city), _map(settings))
    for board in written:
        _write_json(out / "json" / f"{board['uid']}.json", board)
    layers = write_layers(city, DATUM[settings.map_basemap], out / "geo")
    click.echo(
        f"wrote {len(written)} dashboards and {len(layers)} map layers (corridors, district outlines) under {out}"
    )


def _map(settings: Settings) -> MapSettings:
    """Return the base map settings, or stop with the setting a tile base map lacks."""
    try:
        return settings.map_settings()
    except ValueError as exc:
        raise click.ClickException(f"bad setting: {explain(exc)}") from None


@dashboards.command("push")
@click.option("--force", is_flag=True, help="Re-send the datasource token even if nothing else changed.")
@click.pass_obj
def push(settings: Settings, force: bool) -> None:
    """Create or update the datasource, folder and dashboards (with the city's limits) in Grafana (idempotent)."""
    from citywatch.city import load_city
    from dashboards.build import dashboards as boards
    from dashboards.push import InfluxSource, connect
    from dashboards.push import push as push_all

    url = settings.grafana_influx_url or settings.influx_url
    if not url:
        raise click.ClickException("set CITYWATCH_INFLUX_URL (or CITYWATCH_GRAFANA_INFLUX_URL) for the datasource")
    source = InfluxSource(url, settings.influx_token.get_secret_value(), settings.influx_org, settings.influx_bucket)
    token = settings.grafana_token.get_secret_value() if settings.grafana_token else None
    rules = params_of(load_city(settings.city_dir))
    result = push_all(
        connect(settings.grafana_url, token),
        source,
        boards(rules, _map(settings)),
        settings.grafana_folder,
        force,
        prometheus_url=settings.grafana_prometheus_url,
    )
    click.echo(
        json.dumps(
            {
                "datasource": result.datasource,
                "prometheus": result.prometheus,
                "folder": result.folder,
                "dashboards": result.dashboards,
            },
            indent=2,
        )
    )


@dashboards.command("report")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/report"), show_default=True)
@click.option("--minutes", type=float, default=60.0, show_default=True, help="Length of the time range.")
@click.option("--stop", type=click.DateTime(), default=None, help="End of the range, UTC (default: now).")
@click.pass_obj
def report(settings: Settings, out: Path, minutes: float, stop: datetime | None) -> None:
    """Draw the fleet map, PM10 / noise vs limits and fill forecast to PNG from InfluxDB."""
    from citywatch.city import load_city
    from citywatch.configs import influx_config

    try:
        from dashboards.report import ReportRange, write_report
    except ImportError as exc:
        raise click.ClickException(
            f"the report draws with matplotlib, an extra: pip install 'citywatch[report]' ({exc})"
        ) from None

    config = influx_config(settings)
    if config is None:
        raise click.ClickException("set CITYWATCH_INFLUX_URL (and token, org, bucket) to draw a report")
    end = stop.replace(tzinfo=UTC) if stop else datetime.now(UTC)
    span = ReportRange(end - timedelta(minutes=minutes), end)
    with config.client() as client:
        paths = write_report(client.query_api(), config.bucket, load_city(settings.city_dir), span, out)
    for path in paths:
        click.echo(f"{path}  ({path.stat().st_size} bytes)")
