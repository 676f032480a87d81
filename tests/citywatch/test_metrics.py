"""/metrics of the processes: the ticket API's (real uvicorn), the health server's, and what ingest logs.

The stack's ingest and worker are scraped end to end in tests/e2e/test_pipeline.py; the gateway's in
tests/gateway/test_gateway_e2e.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from citywatch.health import HealthServer
from citywatch.metrics import FromCounters, exposition, new_registry, serve_on_api, ticket_metrics
from devices.inventory import load_city
from ingest.service import CountsLog, IngestStats
from ingest.validate import Reason, Rejected
from rules.alerts import Phase
from tests.e2e import harness
from tests.e2e.harness import REPO
from tests.tickets.conftest import REPO_CONFIG, Clock, at
from tests.tickets.notify.fakes import Answer, FakeProvider
from tests.tickets.test_store import T, make_alert
from tickets.auth import IssuedToken, TokenBook
from tickets.config import load_config
from tickets.lifecycle import Actor, Role
from tickets.live import LiveView
from tickets.notify.channels import build_channels
from tickets.notify.config import NotifyConfig
from tickets.notify.worker import NotifyWorker
from tickets.routing import CityResolver
from tickets.server import ServerThread
from tickets.service import TicketService
from tickets.store import TicketStore

TOKEN = "token-lead-0123456789abcdef"


samples = harness.metric_samples


@pytest.fixture
def clock() -> Clock:
    """Return a clock at Monday 2026-03-02 09:00 local time."""
    return Clock(at("2026-03-02 09:00"))


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[TicketStore]:
    """Return a SQLite store that routes by the demo city."""
    config, city = load_config(REPO_CONFIG), load_city(REPO / "cities" / "demo")
    s = TicketStore(str(tmp_path / "t.sqlite"), config, CityResolver(config, city), clock=clock)
    yield s
    s.close()


def test_the_ticket_api_serves_cases_by_stage_overdue_outbox_and_request_latency(
    store: TicketStore, clock: Clock
) -> None:
    city = load_city(REPO / "cities" / "demo")
    store.apply([make_alert(Phase.OPEN, T), make_alert(Phase.OPEN, T + 1000, subject="gps-m02")])
    book = TokenBook([], [IssuedToken(TOKEN, Actor("值班长", Role.SHIFT_LEAD))])
    service = TicketService(store, book, LiveView(city), city, clock=clock)
    registry = new_registry()
    registry.register(FromCounters(lambda: ticket_metrics(store)))
    server = ServerThread(service, extend=serve_on_api(registry)).start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            assert client.get("/api/cases").status_code == 200
            assert client.get("/api/cases/999").status_code == 404
            resp = client.get("/metrics")
    finally:
        server.stop()
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    m = samples(resp.text)
    by_stage, overdue = store.case_gauges()
    assert sum(v for k, v in m.items() if k.startswith("citywatch_cases{")) == sum(by_stage.values()) == 2
    assert m["citywatch_cases_overdue"] == overdue
    assert m["citywatch_outbox_pending"] == store.outbox_counts()["pending"] > 0
    latency = 'citywatch_http_request_seconds_count{method="GET",route="/api/cases/{case_id}",status="404"}'
    assert m[latency] == 1  # the route's template, not the path: one series per route, whatever the id
    assert m['citywatch_http_request_seconds_count{method="GET",route="/api/cases",status="200"}'] == 1


def test_overdue_counts_open_cases_past_their_stage_deadline(store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T)])
    by_stage, _ = store.case_gauges()
    _, far_later = store.case_gauges(now_ms=T + 365 * 86_400_000)
    assert sum(by_stage.values()) == 1
    assert far_later == 1


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_the_health_server_serves_metrics_next_to_healthz_and_a_broken_part_fails_only_its_own() -> None:
    registry = new_registry()
    registry.register(FromCounters(lambda: iter(())))
    registry.register(FromCounters(lambda: 1 / 0))  # type: ignore[arg-type,return-value]  # a part not started yet
    server = HealthServer("127.0.0.1", 0, lambda: {"ok": False, "mqtt": False}, registry).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        status, ctype, text = get(base + "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert samples(text)["process_resident_memory_bytes"] > 0
        status, _, body = get(base + "/healthz")
        assert status == 503 and json.loads(body) == {"ok": False, "mqtt": False}
        assert get(base + "/nope")[0] == 404
    finally:
        server.stop()


def rejected(reason: Reason, n: int) -> list[Rejected]:
    return [Rejected(reason, "bad", "citywatch/v1/vehicle/x/telemetry", b"?") for _ in range(n)]


def test_a_dead_letter_flood_logs_one_counts_line_a_period_and_each_new_reason_once() -> None:
    now = [0.0]
    counts = CountsLog(every_s=60.0, clock=lambda: now[0])
    stats = IngestStats()
    with structlog.testing.capture_logs() as logs:
        for _ in range(100):  # 100 batches of 50 bad messages within the minute
            stats.received += 50
            stats.rejected.update({Reason.NOT_JSON.value: 50})
            counts.after_batch(stats, rejected(Reason.NOT_JSON, 50))
        stats.received += 1
        stats.rejected.update({Reason.SCHEMA.value: 1})
        counts.after_batch(stats, rejected(Reason.SCHEMA, 1))
        now[0] = 61.0
        stats.received += 10
        stats.accepted += 10
        counts.after_batch(stats, [])
    events = Counter(e["event"] for e in logs)
    assert events == {"ingest.deadletter_reason_first_seen": 2, "ingest.counts": 1}
    line = next(e for e in logs if e["event"] == "ingest.counts")
    assert line["received"] == 5011 and line["accepted"] == 10 and line["deadlettered"] == 5001
    assert line["deadlettered_by_reason"] == {"not_json": 5000, "schema": 1}


def test_notification_channels_report_sent_failed_and_backlog(store: TicketStore, clock: Clock) -> None:
    robot = FakeProvider().start()
    try:
        cfg = NotifyConfig.model_validate(
            {"channels": {"ops": {"kind": "wecom", "url_env": "CW_WECOM"}}, "routes": [{"to": ["ops"]}]}
        )
        worker = NotifyWorker(store, cfg, build_channels(cfg, {"CW_WECOM": robot.url("/send?key=k")}), clock=clock)
        store.apply([make_alert(Phase.OPEN, T)])  # two case events
        registry = new_registry()
        registry.register(FromCounters(lambda: ticket_metrics(store, worker)))
        assert worker.deliver_once() == 2
        robot.fail(Answer(500), Answer(500), Answer(500))
        store.apply([make_alert(Phase.OPEN, T + 1000, subject="gps-m02")])  # two more, the robot down
        assert worker.deliver_once() == 0
        during = samples(exposition(registry).decode())
        worker.stop()
    finally:
        robot.stop()
    assert during['citywatch_notify_backlog{channel="ops"}'] == 2
    assert during['citywatch_notify_sent_total{channel="ops"}'] == 2 == len(robot.accepted)
    assert during['citywatch_notify_failed_total{channel="ops"}'] == 1
