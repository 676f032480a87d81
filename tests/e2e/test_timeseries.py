"""End to end into the real InfluxDB: simulator -> Mosquitto -> ingest -> rules -> InfluxDB, then the
dashboards' own Flux queries (the exact text Grafana runs, macros substituted) and the PNG report.

The embedded runner writes through its tap; the stack writes through the faust sink agents of a real
worker on the real Kafka. Each test has its own database.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from citywatch.configs import influx_config
from citywatch.pipeline import EmbeddedPipeline
from citywatch.settings import Settings
from dashboards.queries import QUERIES, render, run, variable_query
from dashboards.report import ReportRange, write_report
from devices.contracts import Message, VehiclePosition
from devices.inventory import City, load_city
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.publisher import PublisherConfig
from devices.sim.runner import Simulation
from devices.sim.scenario import Scenario, load_scenario
from streams.timeseries.schema import Tagger, TicketChange
from streams.timeseries.tap import open_writer, record_ticket_changes
from streams.timeseries.writer import InfluxConfig
from tests.conftest import Influx, Services
from tests.e2e import harness
from tests.e2e.harness import BIN, REPO
from tests.support import recorded_start_ms, wait_for

pytestmark = pytest.mark.services
SEED = 7


@dataclass
class Scripted:
    """The foundation scenario and its messages, timed to end a minute ago."""

    city: City
    scenario: Scenario
    start_ms: int
    messages: list[Message]

    def publish(self, services: Services, client_id: str) -> None:
        cfg = PublisherConfig(host=services.mqtt_host, port=services.mqtt_port, client_id=client_id)
        stats = Simulation(self.city, self.scenario, SEED, self.start_ms, cfg, speed=None).run()
        assert stats.published == len(self.messages) and stats.unacked == 0

    def status_topics(self) -> list[str]:
        kinds = device_kinds(self.city)
        return sorted({topic_of(m, kinds) for m in self.messages if topic_of(m, kinds).endswith("/status")})

    @property
    def positions(self) -> int:
        return len({(m.device_id, m.ts_ms) for m in self.messages if isinstance(m, VehiclePosition)})

    @property
    def expected(self) -> set[tuple[str, str]]:
        return {(e.rule, e.subject) for e in self.scenario.expected}

    def window(self) -> dict[str, Any]:
        start = datetime.fromtimestamp(self.start_ms / 1000 - 60, UTC)
        return {"start": start, "stop": datetime.now(UTC) + timedelta(minutes=1), "window": timedelta(minutes=1)}


@pytest.fixture(scope="module")
def scripted() -> Scripted:
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / "foundation.yaml", city)
    start_ms = recorded_start_ms(scenario.duration_s, city.meta.timezone)
    return Scripted(city, scenario, start_ms, list(generate(city, scenario, SEED, start_ms)))


def client(db: Influx) -> Any:
    return InfluxConfig(db.url, db.token, db.org, db.bucket).client()


def count_points(db: Influx, measurement: str, field: str) -> int:
    flux = (
        f'from(bucket: "{db.bucket}") |> range(start: -1d, stop: 1h) |> filter(fn: (r) => r._measurement == '
        f'"{measurement}" and r._field == "{field}") |> group() |> count()'
    )
    with client(db) as c:
        return sum(int(r.get_value()) for t in c.query_api().query(flux) for r in t.records)


def opened_alerts(db: Influx) -> Counter[tuple[str, str]]:
    flux = (
        f'from(bucket: "{db.bucket}") |> range(start: -1d, stop: 1h) |> filter(fn: (r) => r._measurement == '
        '"alert" and r._field == "alert_id" and r.phase == "open")'
    )
    with client(db) as c:
        return Counter((r["rule"], r["subject"]) for t in c.query_api().query(flux) for r in t.records)


def influx_settings(db: Influx) -> dict[str, str]:
    return {
        "CITYWATCH_INFLUX_URL": db.url,
        "CITYWATCH_INFLUX_TOKEN": db.token,
        "CITYWATCH_INFLUX_ORG": db.org,
        "CITYWATCH_INFLUX_BUCKET": db.bucket,
        "CITYWATCH_INFLUX_FLUSH_INTERVAL_MS": "200",
    }


@pytest.fixture(scope="module")
def embedded_db(
    services: Services, influx: Influx, scripted: Scripted, tmp_path_factory: pytest.TempPathFactory
) -> Influx:
    """Run the embedded pipeline with the InfluxDB tap over the scenario; return its database."""
    tmp = tmp_path_factory.mktemp("ts-embedded")
    unique = f"emb{time.time_ns() % 10**9}"
    influx.influxql(f'CREATE DATABASE "{unique}"')
    db = Influx(influx.url, influx.token, influx.org, f"{unique}/autogen")
    settings = Settings(
        mqtt_host=services.mqtt_host,
        mqtt_port=services.mqtt_port,
        mqtt_share_group=f"g-{unique}",
        mqtt_client_id=f"c-{unique}",
        mqtt_session_expiry_s=0,
        city_dir=REPO / "cities" / "demo",
        ticket_db=tmp / "tickets.sqlite",
        deadletter_path=tmp / "deadletter.jsonl",
        influx_url=db.url,
        influx_token=db.token,
        influx_org=db.org,
        influx_bucket=db.bucket,
    )
    pipeline = EmbeddedPipeline(settings)
    pipeline.start()
    try:
        scripted.publish(services, f"sim-{unique}")
        wait_for(
            lambda: pipeline.ingest.stats.received >= len(scripted.messages),
            timeout=120,
            what="embedded ingest of every message",
        )
    finally:
        pipeline.stop()  # closes the tap: everything pending is written
        harness.clear_retained(services.mqtt_host, services.mqtt_port, scripted.status_topics())
    assert pipeline.influx is not None and pipeline.influx.writer.stats.dropped == 0
    return db


def q(db: Influx, scripted: Scripted, name: str, **variables: list[str]) -> list[dict[str, Any]]:
    with client(db) as c:
        return run(c.query_api(), name, bucket=db.bucket, variables=variables, **scripted.window())


def test_embedded_tap_writes_every_event_and_alert(embedded_db: Influx, scripted: Scripted) -> None:
    assert count_points(embedded_db, "position", "seq") == scripted.positions
    assert set(opened_alerts(embedded_db)) == scripted.expected
    assert count_points(embedded_db, "device_status", "online") > 0


def test_fleet_map_queries(embedded_db: Influx, scripted: Scripted) -> None:
    trucks = q(embedded_db, scripted, "fleet_positions")
    assert sorted(r["device_id"] for r in trucks) == sorted(v.terminal_id for v in scripted.city.vehicles)
    assert {r["state"] for r in trucks} <= {"idle", "empty", "half", "full"}
    assert all(114.2 < r["lon"] < 114.4 and 30.5 < r["lat"] < 30.7 for r in trucks)
    muck = q(embedded_db, scripted, "fleet_positions", kind=["muck"])
    assert {r["vehicle_kind"] for r in muck} == {"muck"} and len(muck) == 6
    tracks = q(embedded_db, scripted, "fleet_tracks")
    assert len({r["device_id"] for r in tracks}) == 12 and len(tracks) > 12 * 15
    assert len(q(embedded_db, scripted, "facilities_map")) == len(scripted.city.facilities)
    assert {r["site_id"] for r in q(embedded_db, scripted, "sites_map")} == {s.site_id for s in scripted.city.sites}


def test_alert_and_ticket_queries(embedded_db: Influx, scripted: Scripted) -> None:
    opened = q(embedded_db, scripted, "alerts_opened")
    by_rule = Counter[str]()
    for r in opened:
        by_rule[r["rule"]] += r["_value"]
    assert by_rule == Counter(rule for rule, _ in scripted.expected)
    still_open = {(r["rule"], r["subject"]) for r in q(embedded_db, scripted, "open_alerts")}
    assert still_open and still_open <= scripted.expected
    writer = open_writer(
        influx_config(
            Settings(
                influx_url=embedded_db.url,
                influx_token=embedded_db.token,
                influx_org=embedded_db.org,
                influx_bucket=embedded_db.bucket,
            )
        )
    )
    assert writer is not None
    now = int(time.time() * 1000)
    assert record_ticket_changes(
        writer,
        [
            TicketChange("T-1", "open", now - 2000, "overflow", "fill-s02"),
            TicketChange("T-2", "open", now - 2000, "overflow", "fill-s05"),
            TicketChange("T-2", "closed", now - 1000, "overflow", "fill-s05"),
        ],
    )
    writer.close()
    tickets = q(embedded_db, scripted, "open_tickets")
    assert [(r["ticket_id"], r["state"]) for r in tickets if r["ticket_id"].startswith("T-")] == [("T-1", "open")]
    cases = [r for r in tickets if not r["ticket_id"].startswith("T-")]  # the store's cases, opened by the alerts
    assert cases and {r["state"] for r in cases} == {"discovered"}


def test_facility_site_and_device_queries(embedded_db: Influx, scripted: Scripted) -> None:
    forecast = q(embedded_db, scripted, "facility_forecast")
    assert {r["facility_id"] for r in forecast[:2]} == {"S02", "S05"}  # the planted overflows fill fastest
    assert all(r["hours_to_full"] >= 0 for r in forecast)
    assert len({r["facility_id"] for r in q(embedded_db, scripted, "facility_fill")}) == 6
    pm10 = q(embedded_db, scripted, "site_pm10", site=["C01"])
    assert {r["_field"] for r in pm10} == {"pm10_ugm3", "pm10_limit_ugm3"} and {r["site_id"] for r in pm10} == {"C01"}
    assert {r["_field"] for r in q(embedded_db, scripted, "site_noise")} == {"noise_dba", "noise_limit_dba"}
    background = q(embedded_db, scripted, "background_pm10")
    assert {r["device_id"] for r in background} == {b.device_id for b in scripted.city.background_stations}
    assert all(r["_value"] > 0 for r in background)
    exceedance = q(embedded_db, scripted, "site_exceedance")
    assert {r["site_id"] for r in exceedance} == {"C01", "C02", "C03"} and all(r["readings"] > 0 for r in exceedance)
    rates = q(embedded_db, scripted, "device_online_rate")
    assert {r["device_kind"] for r in rates} == {"vehicle", "facility", "site", "background", "camera"}
    assert all(0.0 <= r["_value"] <= 100.0 for r in rates)
    q(embedded_db, scripted, "devices_offline")  # runs; content depends on the scenario's end


def test_template_variable_queries(embedded_db: Influx, scripted: Scripted) -> None:
    with client(embedded_db) as c:
        api = c.query_api()

        def values(measurement: str, tag: str) -> set[str]:
            text = render(variable_query(measurement, tag), bucket=embedded_db.bucket, **scripted.window())
            return {r.get_value() for t in api.query(text) for r in t.records}

        tagger = Tagger(scripted.city)
        assert values("device_status", "district") == {tagger.of(d).district for d in scripted.city.device_kinds()}
        assert values("position", "company") == {v.company for v in scripted.city.vehicles}
        assert values("position", "vehicle_kind") == {"garbage", "muck"}
        assert values("device_status", "device_kind") == {"vehicle", "facility", "site", "background", "camera"}
    assert all(name in QUERIES for name in ("fleet_positions", "open_alerts", "facility_forecast"))


def test_report_draws_the_key_panels_to_png(embedded_db: Influx, scripted: Scripted, tmp_path: Path) -> None:
    window = scripted.window()
    with client(embedded_db) as c:
        paths = write_report(
            c.query_api(), embedded_db.bucket, scripted.city, ReportRange(window["start"], window["stop"]), tmp_path
        )
    assert [p.name for p in paths] == ["map.png", "sites.png", "facilities.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 40_000


def written_at_least(port: int, points: int) -> dict[str, float] | None:
    """Return a worker's metrics once its InfluxDB writer counts at least so many points written."""
    metrics = harness.scrape(port)
    return metrics if metrics.get("citywatch_influx_points_written_total", 0) >= points else None


def test_stack_sink_agents_write_through_kafka(
    services: Services, influx_db: Influx, scripted: Scripted, tmp_path: Path, unique: str
) -> None:
    env = {**harness.stack_env(services, tmp_path, unique), **influx_settings(influx_db)}
    worker = harness.start(
        "faust-worker", [str(BIN / "faust"), "-A", "citywatch.worker", "worker", "-l", "info"], env, tmp_path
    )
    ingest = harness.start("ingest", [str(BIN / "citywatch"), "--log-json", "ingest", "--mode", "stack"], env, tmp_path)
    try:
        worker.wait_for_line(r"\[\^Worker\]: Ready", timeout=180)
        ingest.wait_for_line(r"ingest\.started", timeout=60)
        scripted.publish(services, f"sim-{unique}")
        wait_for(
            lambda: count_points(influx_db, "position", "seq") >= scripted.positions,
            timeout=180,
            interval=1,
            what="the influx-positions agent to write every position",
        )
        wait_for(
            lambda: set(opened_alerts(influx_db)) >= scripted.expected,
            timeout=120,
            interval=1,
            what="the influx-alerts agent to write every planted alert",
        )
        metrics = wait_for(  # the worker's own /metrics (faust's sensor is off by default): the writer's figures
            lambda: written_at_least(int(env["CITYWATCH_FAUST_WEB_PORT"]), scripted.positions),
            timeout=30,
            interval=1,
            what="the worker's /metrics to count the points written",
        )
        assert metrics["citywatch_influx_points_dropped_total"] == 0
        assert not any(k.startswith("faust_") for k in metrics)
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()
        harness.clear_retained(services.mqtt_host, services.mqtt_port, scripted.status_topics())
    assert count_points(influx_db, "position", "seq") == scripted.positions
    assert set(opened_alerts(influx_db)) == scripted.expected
    assert "influx.buffer_full_dropping" not in worker.text()
