"""End to end on real services: simulator -> Mosquitto -> ingest -> Kafka -> faust worker -> tickets.

The foundation and catalog scenarios plant known violations (the catalog one of every rule); the
test asserts that exactly those became tickets (none missed, none extra, no duplicates), that
malformed payloads published with a plain
MQTT client all landed in the dead-letter topic with their reasons, that redelivered messages
raised no duplicate alert, and that the embedded runner gives the same tickets.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from citywatch.pipeline import EmbeddedPipeline
from citywatch.settings import Settings
from devices.catalog import ALERTS, ALERTS_RAW, EVENT_STREAMS, FACTS
from devices.contracts import Message
from devices.inventory import City, load_city
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.publisher import PublisherConfig
from devices.sim.runner import Simulation
from devices.sim.scenario import Scenario, load_scenario
from tests.conftest import Services
from tests.e2e import harness
from tests.e2e.harness import BIN, REPO
from tests.support import recorded_start_ms, wait_for
from tickets.store import Ticket, TicketStore

pytestmark = pytest.mark.services

SEED = 7
NOW_MS = int(time.time() * 1000)


def malformed(now_ms: int) -> list[tuple[str, bytes, str]]:
    """Return (topic, payload, expected reason) for every class of bad input."""
    good = {
        "device_id": "gps-m01",
        "ts_ms": now_ms - 5000,
        "seq": 10_000_001,
        "lon": 114.3,
        "lat": 30.59,
        "speed_kmh": 30.0,
        "heading_deg": 90.0,
        "load_state": "full",
        "cover_closed": True,
    }
    topic = "citywatch/v1/vehicle/gps-m01/telemetry"

    def body(**over: object) -> bytes:
        return json.dumps({**good, **over}).encode()

    sighting = {
        "device_id": "gps-m01",
        "ts_ms": now_ms - 5000,
        "seq": 1,
        "event_id": "x1",
        "confidence": 0.95,
        "event_type": "unsealed_truck",
        "lon": 114.3,
        "lat": 30.59,
        "plate": "鄂A·D3203",
    }  # M03's plate
    return [
        (topic, b"this is not json", "not_json"),
        (topic, b"\xff\xfe\x00\x01", "not_json"),
        (topic, body(speed_kmh="fast"), "schema"),
        (topic, body(seq="10000001"), "schema"),  # wrong types are refused, even convertible ones
        (topic, body(cover_closed="yes"), "schema"),
        (topic, body().replace(b"114.3", b"NaN"), "schema"),
        (topic, body(lat=95.0), "schema"),
        (topic, body().replace(b'"lat": 30.59', b'"lat": 30.59, "lat": 31.2'), "duplicate_key"),
        (topic, body(ts_ms=now_ms + 3_600_000), "future_timestamp"),
        (topic, body(extra="x" * 5000), "oversize"),
        ("citywatch/v1/tractor/gps-m01/telemetry", body(), "unknown_topic"),
        ("citywatch/v1/vehicle/gps-m99/telemetry", body(device_id="gps-m99"), "unknown_device"),
        # a truck's account posing as a camera, naming another truck's plate
        ("citywatch/v1/camera/gps-m01/event", json.dumps(sighting, ensure_ascii=False).encode(), "wrong_kind"),
        ("citywatch/v1/vehicle/gps-m02/telemetry", body(), "topic_mismatch"),
    ]


@dataclass
class Scripted:
    """The scenario, its messages, and what a correct pipeline must make of them."""

    city: City
    scenario: Scenario
    start_ms: int
    messages: list[tuple[str, bytes]]

    @property
    def status_topics(self) -> list[str]:
        """The device status topics the simulator publishes retained."""
        return sorted({t for t, _ in self.messages if t.endswith("/status")})

    def publish(self, services: Services, client_id: str) -> int:
        """Publish the scenario with the simulator, as fast as the broker takes it."""
        cfg = PublisherConfig(host=services.mqtt_host, port=services.mqtt_port, client_id=client_id)
        stats = Simulation(self.city, self.scenario, SEED, self.start_ms, cfg, speed=None).run()
        assert stats.published == len(self.messages) and stats.unacked == 0
        return stats.published

    @property
    def expected(self) -> set[tuple[str, str]]:
        return {(e.rule, e.subject) for e in self.scenario.expected}


@pytest.fixture(scope="module", params=["foundation.yaml", "catalog.yaml"])
def scripted(request: pytest.FixtureRequest) -> Scripted:
    city = load_city(REPO / "cities" / "demo")
    scenario = load_scenario(REPO / "scenarios" / request.param, city)
    pinned = scenario.pinned_start_ms(city.meta.timezone)
    start_ms = pinned if pinned is not None else recorded_start_ms(scenario.duration_s, city.meta.timezone, NOW_MS)
    kinds = device_kinds(city)
    msgs: list[Message] = list(generate(city, scenario, SEED, start_ms))
    return Scripted(city, scenario, start_ms, [(topic_of(m, kinds), m.model_dump_json().encode()) for m in msgs])


def redeliveries(s: Scripted) -> list[tuple[str, bytes]]:
    """A slice of the scenario published again, as a QoS 1 redelivery would."""
    return s.messages[len(s.messages) // 3 : len(s.messages) // 3 + 300]


Violation = tuple[str, str]  # (rule, subject)


def covered(ticket: Ticket) -> frozenset[Violation]:
    """Return the violations a ticket stands for: itself, or every source a fusion merged into it."""
    sources = ticket.evidence.get("sources") or []
    return frozenset((str(s["rule"]), str(s["subject"])) for s in sources) or frozenset({(ticket.rule, ticket.subject)})


WATERMARK_RULES = {"silent_device", "missed_collection"}
"""Rules judged against event time rather than an event: both runs must find them, but when (the
watermark tick that opened them) depends on how each runner's watermark advances, so their opening
times are not compared."""


def opened_and_state(tickets: list[Ticket]) -> dict[str, tuple[int, str]]:
    """Each unfused event-driven ticket's opening time and violation state (camera sightings clear
    by the watermark, so only their opening is compared)."""
    return {
        t.dedup_key: (t.opened_ms, "" if t.rule == "camera" else t.violation)
        for t in tickets
        if "sources" not in t.evidence and t.rule not in WATERMARK_RULES
    }


def assert_exactly_planted(tickets: list[Ticket], expected: set[Violation]) -> None:
    """Every planted violation is in exactly one ticket, and every ticket holds a planted one.

    A camera sighting fused with the GPS alert of the same violation is one ticket; which of the
    two names it depends on which arrived first, so tickets are compared by what they cover.
    """
    covers = [covered(t) for t in tickets]
    seen = [v for c in covers for v in c]
    found = {v for v in seen if v in expected}
    assert expected <= found, f"planted {sorted(expected)} not all found in {covers}"
    assert all(c & expected for c in covers), f"a ticket holds no planted violation: {covers}"
    assert len(seen) == len(set(seen)), f"a violation is in two tickets: {covers}"


@dataclass
class StackRun:
    tickets: list[Ticket]
    deadletters: list[dict[str, object]]
    alerts_on_topic: int
    alert_log_rows: int
    valid: int  # messages ingest should accept
    ingest_metrics: dict[str, float]
    worker_metrics: dict[str, float]
    logs: dict[str, str]


@pytest.fixture(scope="module")
def stack_run(services: Services, scripted: Scripted, tmp_path_factory: pytest.TempPathFactory) -> StackRun:
    tmp = tmp_path_factory.mktemp("stack")
    unique = tmp.name.replace("_", "")[-10:] + str(NOW_MS % 100000)
    env = {
        **harness.stack_env(services, tmp, unique),
        "CITYWATCH_HEALTH_PORT": str(harness.free_port()),
        "CITYWATCH_FAUST_PROMETHEUS": "true",  # faust's own sensor too (off by default: it costs throughput)
    }
    prefix, group = env["CITYWATCH_TOPIC_PREFIX"], env["CITYWATCH_FAUST_APP_ID"]
    worker = harness.start("worker", [str(BIN / "citywatch"), "--log-json", "worker"], env, tmp)
    ingest = harness.start("ingest", [str(BIN / "citywatch"), "--log-json", "ingest", "--mode", "stack"], env, tmp)
    try:
        worker.wait_for_line(r"\[\^Worker\]: Ready", timeout=180)
        ingest.wait_for_line(r"ingest\.started", timeout=60)
        bad = malformed(int(time.time() * 1000))
        scripted.publish(services, f"sim-{unique}")
        harness.publish_raw(services.mqtt_host, services.mqtt_port, redeliveries(scripted))
        harness.publish_raw(services.mqtt_host, services.mqtt_port, [(t, p) for t, p, _ in bad])
        n_valid = len(scripted.messages) + len(redeliveries(scripted))
        sources = [prefix + s for s in EVENT_STREAMS]
        wait_for(
            lambda: asyncio.run(harness.count_events(services.kafka_bootstrap, sources)) >= n_valid,
            timeout=120,
            interval=1,
            what="ingest to forward every valid message to Kafka",
        )
        wait_for(
            lambda: harness.caught_up(services.kafka_bootstrap, group, sources),
            timeout=120,
            interval=1,
            what="the faust worker to commit every event",
        )
        for stage in (FACTS, ALERTS_RAW, ALERTS):  # each stage's input is complete once the one before caught up
            wait_for(
                lambda topic=prefix + stage: harness.caught_up(services.kafka_bootstrap, group, [topic]),
                timeout=60,
                interval=1,
                what=f"the worker to commit every record of {stage}",
            )
        dead = asyncio.run(harness.read_topic(services.kafka_bootstrap, prefix + "deadletter", len(bad), 60))
        alerts = harness.total(asyncio.run(harness.end_offsets(services.kafka_bootstrap, [prefix + "alerts"])))
        ingest_metrics = harness.scrape(int(env["CITYWATCH_HEALTH_PORT"]))
        worker_metrics = wait_for(
            lambda: caught_up_metrics(harness.scrape(int(env["CITYWATCH_FAUST_WEB_PORT"]))),
            timeout=30,
            interval=1,
            what="the worker's /metrics to show every partition committed",
        )
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()
        harness.clear_retained(services.mqtt_host, services.mqtt_port, scripted.status_topics)
    store = TicketStore(env["CITYWATCH_TICKET_DB"])
    rows = store.alert_log_count()
    logs = {"ingest": ingest.text(), "worker": worker.text()}
    run = StackRun(store.list(), harness.decode_json(dead), alerts, rows, n_valid, ingest_metrics, worker_metrics, logs)
    store.close()
    return run


def caught_up_metrics(metrics: dict[str, float]) -> dict[str, float] | None:
    """Return the worker's metrics once they show every assigned partition committed to its end."""
    lags = [v for k, v in metrics.items() if k.startswith("citywatch_worker_partition_lag{")]
    return metrics if lags and not any(lags) else None


def test_exactly_the_planted_violations_became_tickets(stack_run: StackRun, scripted: Scripted) -> None:
    assert_exactly_planted(stack_run.tickets, scripted.expected)


def test_redeliveries_raised_no_duplicate_alert(stack_run: StackRun) -> None:
    assert stack_run.alerts_on_topic == stack_run.alert_log_rows
    assert len({t.dedup_key for t in stack_run.tickets}) == len(stack_run.tickets)


def test_every_malformed_payload_is_dead_lettered_with_its_reason(stack_run: StackRun) -> None:
    bad = malformed(NOW_MS)
    got = sorted((str(d["topic"]), str(d["reason"])) for d in stack_run.deadletters)
    assert got == sorted((t, r) for t, _, r in bad)
    sizes = {len(p) for _, p, _ in bad}
    assert {len(base64.b64decode(str(d["payload_b64"]))) for d in stack_run.deadletters} == sizes


def test_ingest_metrics_count_every_message_and_every_dead_letter_by_reason(stack_run: StackRun) -> None:
    m, bad = stack_run.ingest_metrics, malformed(NOW_MS)
    assert m["citywatch_ingest_received_total"] == stack_run.valid + len(bad)
    assert m["citywatch_ingest_accepted_total"] == stack_run.valid
    by_reason = {k: v for k, v in m.items() if k.startswith("citywatch_ingest_deadlettered_total{")}
    assert by_reason == {
        f'citywatch_ingest_deadlettered_total{{reason="{r}"}}': float(n) for r, n in Counter(r for *_, r in bad).items()
    }
    assert m["citywatch_ingest_mqtt_connected"] == 1
    assert m["citywatch_ingest_batch_seconds_count"] >= 1
    assert m["process_resident_memory_bytes"] > 0


def test_worker_metrics_count_events_and_alerts_and_faust_reports_its_own(stack_run: StackRun) -> None:
    m = stack_run.worker_metrics
    events = sum(v for k, v in m.items() if k.startswith("citywatch_worker_events_total{"))
    assert events >= stack_run.valid  # a record read again after a rebalance counts twice
    alerts = sum(v for k, v in m.items() if k.startswith("citywatch_worker_alerts_total{"))
    assert alerts == stack_run.alerts_on_topic
    assert any(k.startswith("citywatch_worker_state_keys{") and v > 0 for k, v in m.items())
    assert m["faust_messages_received_total"] >= stack_run.valid


def test_every_log_line_of_the_stack_processes_is_json(stack_run: StackRun) -> None:
    for name, text in stack_run.logs.items():
        lines = [line for line in text.splitlines() if line.strip()]
        assert lines, name
        for line in lines:
            record = json.loads(line)  # aiokafka's and faust's lines too
            assert {"event", "level", "timestamp"} <= record.keys(), (name, line)


def test_embedded_runner_gives_the_same_tickets(
    services: Services, scripted: Scripted, stack_run: StackRun, tmp_path: Path, unique: str
) -> None:
    settings = Settings(
        mqtt_host=services.mqtt_host,
        mqtt_port=services.mqtt_port,
        mqtt_share_group=f"emb-{unique}",
        mqtt_client_id=f"emb-{unique}",
        mqtt_session_expiry_s=0,
        city_dir=REPO / "cities" / "demo",
        ticket_db=tmp_path / "tickets.sqlite",
        deadletter_path=tmp_path / "deadletter.jsonl",
    )
    pipeline = EmbeddedPipeline(settings)
    pipeline.start()
    try:
        scripted.publish(services, f"sim-{unique}")
        harness.publish_raw(services.mqtt_host, services.mqtt_port, redeliveries(scripted))
        total = len(scripted.messages) + len(redeliveries(scripted))
        wait_for(lambda: pipeline.ingest.stats.received >= total, timeout=120, what="embedded ingest of every message")
        embedded = pipeline.store.list()
    finally:
        pipeline.stop()
        harness.clear_retained(services.mqtt_host, services.mqtt_port, scripted.status_topics)
    assert_exactly_planted(embedded, scripted.expected)

    def by_event(tickets: list[Ticket]) -> list[list[Violation]]:
        return sorted(sorted(covered(t)) for t in tickets)

    assert by_event(embedded) == by_event(stack_run.tickets)
    assert opened_and_state(embedded) == opened_and_state(stack_run.tickets)
    assert pipeline.runner.stats.duplicates >= len(redeliveries(scripted))
