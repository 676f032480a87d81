"""The dashboards show the city's own limits: thresholds and titles from its rules, and limit series and
exceedance shares from the limits written with each reading (run on the real InfluxDB)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from influxdb_client.client.write.point import WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from dashboards.build import dashboards, fleet_map, sites_board
from dashboards.queries import run
from devices.contracts import SiteReading
from devices.inventory import City, load_city
from rules.params import RuleParams, params_of
from streams.timeseries.schema import Tagger, event_lines
from streams.timeseries.writer import InfluxConfig
from tests.conftest import Influx

DEMO = load_city(Path(__file__).resolve().parents[2] / "cities" / "demo")
STRICT = RuleParams.model_validate(
    {"pm10_preset": "hebei", "noise": {"day_limit_dba": 65, "night_limit_dba": 50, "night": "23:00-07:00"}}
)
NOON = int(datetime(2026, 3, 2, 4, tzinfo=UTC).timestamp() * 1000)  # 12:00 Asia/Shanghai


def with_rules(city: City, rules: RuleParams) -> City:
    """Return a copy of a city whose ``city.yaml`` sets these rules."""
    return city.model_copy(update={"meta": city.meta.model_copy(update={"rules": rules})})


def steps(thresholds: dict[str, Any]) -> list[tuple[float | None, str]]:
    return [(s["value"], s["color"]) for s in thresholds["steps"]]


def pm10_panel(board: dict[str, Any]) -> dict[str, Any]:
    return next(p for p in board["panels"] if p["title"].startswith("PM10"))


def test_the_sites_board_draws_the_ladder_and_names_the_limits_of_the_city() -> None:
    demo, strict = sites_board(params_of(DEMO)), sites_board(STRICT)
    assert steps(pm10_panel(demo)["fieldConfig"]["defaults"]["thresholds"]) == [
        (None, "green"),
        (150.0, "orange"),
        (200.0, "red"),
    ]  # Wuhan: limit, then stop work
    assert steps(pm10_panel(strict)["fieldConfig"]["defaults"]["thresholds"]) == [(None, "green"), (80.0, "red")]
    titles = [p["title"] for b in (demo, strict) for p in b["panels"] if p["title"].startswith("Noise")]
    assert titles == [
        "Noise vs limit (day 70 / night 55 dB(A), night 22:00-06:00) 噪声与限值",
        "Noise vs limit (day 65 / night 50 dB(A), night 23:00-07:00) 噪声与限值",
    ]


def test_the_fleet_map_colours_sites_by_the_city_limit() -> None:
    def site_steps(board: dict[str, Any]) -> list[tuple[float | None, str]]:
        (geomap,) = [p for p in board["panels"] if p["type"] == "geomap"]
        (override,) = [o for o in geomap["fieldConfig"]["overrides"] if o["matcher"]["options"] == "pm10_ugm3"]
        return steps(next(p["value"] for p in override["properties"] if p["id"] == "thresholds"))

    assert site_steps(fleet_map(rules=params_of(DEMO)))[1] == (150.0, "orange")
    assert site_steps(fleet_map(rules=STRICT)) == [(None, "green"), (80.0, "red")]


def test_without_rules_the_boards_use_the_rules_defaults() -> None:
    assert dashboards() == dashboards(RuleParams()) != dashboards(STRICT)


def write_noon(db: Influx, city: City, start_ms: int) -> None:
    """Write ten readings of C01's monitor, 100 µg/m³ and 67 dB(A), a minute apart, with the city's tags."""
    device = DEMO.sites[0].device_id
    readings = [
        SiteReading(device_id=device, ts_ms=start_ms + i * 60_000, seq=i, pm10_ugm3=100.0, noise_dba=67.0)
        for i in range(10)
    ]
    with InfluxConfig(db.url, db.token, db.org, db.bucket).client() as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            db.bucket, record=event_lines(readings, Tagger(city)), write_precision=WritePrecision.MS
        )


def panels(db: Influx, start_ms: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the limit series of the PM10 panel and the exceedance table over the 10 minutes from start."""
    start = datetime.fromtimestamp(start_ms / 1000, UTC)
    span = {"bucket": db.bucket, "start": start, "stop": start + timedelta(minutes=10), "window": timedelta(minutes=1)}
    with InfluxConfig(db.url, db.token, db.org, db.bucket).client() as client:
        limits = [r for r in run(client.query_api(), "site_pm10", **span) if r["_field"] == "pm10_limit_ugm3"]
        return limits, run(client.query_api(), "site_exceedance", **span)


@pytest.mark.services
def test_limit_lines_and_exceedances_follow_the_city_limits(influx_db: Influx) -> None:
    later = NOON + 3600_000
    write_noon(influx_db, DEMO, NOON)
    write_noon(influx_db, with_rules(DEMO, STRICT), later)
    demo_limits, demo_over = panels(influx_db, NOON)
    strict_limits, strict_over = panels(influx_db, later)
    assert {r["_value"] for r in demo_limits} == {150.0} and {r["_value"] for r in strict_limits} == {80.0}
    summary = [
        (r["site_id"], r["period"], r["readings"], r["pm10_over_pct"], r["noise_over_pct"])
        for r in demo_over + strict_over
    ]
    assert summary == [("C01", "day", 10.0, 0.0, 0.0), ("C01", "day", 10.0, 100.0, 100.0)]
