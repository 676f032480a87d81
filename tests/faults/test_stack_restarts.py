"""The stack (ingest → Kafka → faust workers → ticket store) with its worker killed or restarted on purpose.

faust keeps the rule state in tables whose changelogs are Kafka topics: a new worker restores them
and goes on where the old one stopped. Each test checks that every published message reached
Kafka once, that the workers committed every stage, and that the planted deviation is exactly one
ticket, cleared (its CLEAR was judged by the restored state).
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import make_url

from tests.conftest import Services
from tests.e2e.harness import REPO
from tests.faults.broker import Broker
from tests.faults.conftest import Report
from tests.faults.embedded import tickets
from tests.faults.fleet import PLANTED, Traffic, publish
from tests.faults.kafka import PrivateKafka
from tests.faults.stack import Stack, stack_env
from tests.support import running, wait_for
from tickets.store import TicketStore

pytestmark = pytest.mark.services


@pytest.fixture
def stack(services: Services, broker: Broker, tmp_path: Path, unique: str) -> Stack:
    return Stack(stack_env(broker.port, services.kafka_bootstrap, tmp_path, unique), tmp_path, services.kafka_bootstrap)


def assert_one_cleared_deviation(stack: Stack, traffic: Traffic, redelivered: bool = False) -> dict[str, int]:
    """Every message on Kafka (once, unless ingest was killed between forwarding and acknowledging: then the
    broker's redelivery repeats some, which the rules recognise by seq), all stages done, one cleared ticket."""
    stack.wait_forwarded(traffic.published)
    on_kafka = stack.forwarded_messages()
    assert len(on_kafka) == traffic.published == len(traffic.messages)
    assert redelivered or max(on_kafka.values()) == 1
    stack.wait_caught_up()
    db = stack.tmp / "tickets.sqlite"
    wait_for(lambda: [t.cleared_ms is not None for t in tickets(db)] == [True], 60, what="one cleared ticket")
    assert [(t.rule, t.subject) for t in tickets(db)] == [PLANTED]
    return {
        "published": traffic.published,
        "on_kafka": len(on_kafka),
        "repeats_on_kafka": sum(on_kafka.values()) - len(on_kafka),
        "tickets": 1,
        "cleared": 1,
    }


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "graceful"])
def test_worker_restart_mid_episode_recovers_its_tables(
    stack: Stack,
    broker: Broker,
    traffic: Traffic,
    sig: signal.Signals,
    report: Report,
) -> None:
    worker, _ = stack.worker("worker-1")
    ingest = stack.ingest("ingest")
    try:
        publish(traffic, broker.port, "fleet", 0, traffic.open_index)
        db = stack.tmp / "tickets.sqlite"
        wait_for(
            lambda: [(t.rule, t.cleared_ms) for t in tickets(db)] == [(PLANTED[0], None)],
            120,
            what="the deviation's ticket, open",
        )
        worker.popen.send_signal(sig)
        worker.popen.wait(60)
        publish(traffic, broker.port, "fleet", traffic.open_index, len(traffic.messages))  # the worker is down
        second, ready_s = stack.worker("worker-2")
        try:
            assert "Error in recovery" not in second.text()
            report(**assert_one_cleared_deviation(stack, traffic), worker_ready_after_restart_s=round(ready_s, 1))
        finally:
            second.stop()
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()


def test_stack_ingest_kill_9_mid_stream_then_restart_with_the_default_client_id(
    stack: Stack, broker: Broker, traffic: Traffic, report: Report
) -> None:
    worker, _ = stack.worker("worker")
    first = stack.ingest("ingest-1")
    try:
        publish(traffic, broker.port, "fleet", 0, 1000)
        stack.wait_forwarded(900)
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(10)
        publish(traffic, broker.port, "fleet", 1000, len(traffic.messages))  # queued by the broker meanwhile
        second = stack.ingest("ingest-2")
        try:
            report(**assert_one_cleared_deviation(stack, traffic, redelivered=True))
        finally:
            assert second.stop() == 0, second.text()[-3000:]
    finally:
        worker.stop()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[PrivateKafka]:
    """A Kafka node of this test's own, which it may stop."""
    with running(PrivateKafka(tmp_path / "kafka")) as kafka:
        yield kafka


def test_kafka_down_mid_stream_loses_nothing(
    own_kafka: PrivateKafka, broker: Broker, traffic: Traffic, tmp_path: Path, unique: str, report: Report
) -> None:
    stack = Stack(stack_env(broker.port, own_kafka.bootstrap, tmp_path, unique), tmp_path, own_kafka.bootstrap)
    worker, _ = stack.worker("worker")
    ingest = stack.ingest("ingest")
    try:
        publish(traffic, broker.port, "fleet", 0, 1000)
        own_kafka.stop()
        publisher = threading.Thread(target=publish, args=(traffic, broker.port, "fleet", 1000, len(traffic.messages)))
        publisher.start()  # devices go on publishing; ingest holds their messages (unacknowledged) meanwhile
        time.sleep(14)  # the outage itself
        own_kafka.start()
        publisher.join(180)
        assert not publisher.is_alive()
        report(**assert_one_cleared_deviation(stack, traffic, redelivered=True))
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()


def test_postgresql_restart_mid_stream_loses_nothing(
    services: Services, broker: Broker, traffic: Traffic, tmp_path: Path, unique: str, postgres_url: str, report: Report
) -> None:
    env = stack_env(broker.port, services.kafka_bootstrap, tmp_path, unique, CITYWATCH_TICKET_DB_URL=postgres_url)
    stack = Stack(env, tmp_path, services.kafka_bootstrap)
    worker, _ = stack.worker("worker")
    ingest = stack.ingest("ingest")
    try:
        publish(traffic, broker.port, "fleet", 0, traffic.pending_index)
        stack.wait_caught_up()
        restart = threading.Thread(
            target=subprocess.run,
            kwargs={"args": [str(REPO / "scripts" / "services.d" / "postgres.sh"), "restart", "10"], "check": True},
        )
        restart.start()
        wait_for(lambda: not reachable(postgres_url), 30, what="PostgreSQL to be down")
        publish(traffic, broker.port, "fleet", traffic.pending_index, len(traffic.messages))  # the deviation opens
        restart.join(60)  # while the database is down: its alert must wait, not vanish
        assert not restart.is_alive()
        assert "store.unavailable_retrying" in worker.text()
        stack.wait_forwarded(traffic.published)
        stack.wait_caught_up()
        assert worker.popen.poll() is None, worker.text()[-3000:]  # it waited for the database, and went on
        store = TicketStore(postgres_url)
        try:
            wait_for(lambda: [t.cleared_ms is not None for t in store.list()] == [True], 60, what="one cleared ticket")
            assert [(t.rule, t.subject) for t in store.list()] == [PLANTED]
            report(published=traffic.published, on_kafka=len(stack.forwarded_messages()), tickets=1, cleared=1)
        finally:
            store.close()
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]
        worker.stop()


def reachable(url: str) -> bool:
    """Tell whether PostgreSQL accepts a connection now."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        psycopg.connect(dsn, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True
