"""The embedded pipeline (``citywatch ingest --mode embedded``) killed, starved and restarted on purpose.

Each test publishes the same ~3,000 QoS 1 messages with one planted route deviation through a private
Mosquitto with the production persistence settings, breaks something mid-stream, and then checks
from outside (the ticket database) that every published message was processed exactly once
(published = processed + dead-lettered; repeats are recognised, never counted twice) and that the
planted deviation is exactly one ticket, cleared.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from citywatch.broker import free_port
from tests.e2e import harness
from tests.e2e.harness import Proc
from tests.faults.broker import Broker
from tests.faults.conftest import Report
from tests.faults.embedded import (
    deadletters,
    embedded_env,
    progress,
    start_ingest,
    tickets,
)
from tests.faults.fleet import PLANTED, Traffic, publish
from tests.support import wait_for

pytestmark = pytest.mark.services


def db_of(tmp: Path) -> Path:
    return tmp / "tickets.sqlite"


def wait_processed(tmp: Path, count: int, timeout: float = 120.0) -> None:
    """Wait until the runner committed count messages (each once) or dead-lettered them."""
    wait_for(
        lambda: progress(db_of(tmp)).new + deadletters(tmp) >= count,
        timeout,
        interval=0.2,
        what=f"{count} messages processed",
    )


def assert_nothing_lost_or_doubled(tmp: Path, traffic: Traffic) -> dict[str, int]:
    """Every published message processed once; the planted deviation one ticket, cleared; nothing else.
    Return the row of the fault table: published, processed, dead-lettered, repeats recognised, tickets."""
    wait_processed(tmp, traffic.published)
    done = progress(db_of(tmp))
    assert done.new + deadletters(tmp) == traffic.published == len(traffic.messages)
    wait_for(lambda: all(t.cleared_ms for t in tickets(db_of(tmp))), 30, what="the episode to be cleared")
    found = tickets(db_of(tmp))
    assert [(t.rule, t.subject) for t in found] == [PLANTED], found
    assert found[0].cleared_ms is not None
    return {
        "published": traffic.published,
        "processed": done.new,
        "deadlettered": deadletters(tmp),
        "repeats_dropped": done.duplicates,
        "tickets": len(found),
        "cleared": 1,
    }


def publish_in_background(traffic: Traffic, port: int, name: str, rate_per_s: float | None = None) -> threading.Thread:
    """Publish the whole traffic from a thread (it survives broker restarts); join it to wait for the acks."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            publish(traffic, port, name, 0, len(traffic.messages), rate_per_s)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.errors = errors  # type: ignore[attr-defined]
    thread.start()
    return thread


def join(thread: threading.Thread) -> None:
    thread.join(180)
    assert not thread.is_alive(), "the publisher did not finish"
    assert not thread.errors, thread.errors  # type: ignore[attr-defined]


def when_processed(tmp: Path, count: int, action: Callable[[], None]) -> None:
    """Run action as soon as the runner has committed count messages."""
    wait_for(lambda: progress(db_of(tmp)).events >= count, 120, interval=0.05, what=f"{count} events committed")
    action()


def test_no_fault_baseline(broker: Broker, traffic: Traffic, tmp_path: Path, report: Report) -> None:
    ingest = start_ingest(embedded_env(broker.port, tmp_path), tmp_path, "ingest")
    try:
        publish(traffic, broker.port, "fleet", 0, len(traffic.messages))
        report(**assert_nothing_lost_or_doubled(tmp_path, traffic))
        assert progress(db_of(tmp_path)).duplicates == 0
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]


def kill9(proc: Proc) -> None:
    proc.popen.send_signal(signal.SIGKILL)
    proc.popen.wait(10)


def test_kill_9_mid_stream_then_restart_with_the_default_client_id(
    broker: Broker, traffic: Traffic, tmp_path: Path, report: Report
) -> None:
    env = embedded_env(broker.port, tmp_path)  # no CITYWATCH_MQTT_CLIENT_ID: the default must be stable
    first = start_ingest(env, tmp_path, "ingest-1")
    publisher = publish_in_background(traffic, broker.port, "fleet")
    when_processed(tmp_path, 1000, lambda: kill9(first))
    second = start_ingest(env, tmp_path, "ingest-2")
    try:
        join(publisher)
        report(**assert_nothing_lost_or_doubled(tmp_path, traffic), restart_to_subscribed_s=round(second.ready_s, 1))
    finally:
        assert second.stop() == 0, second.text()[-3000:]


@pytest.mark.parametrize("moment", ["pending", "open"])
def test_kill_9_during_the_episode_neither_loses_nor_doubles_it(
    broker: Broker, traffic: Traffic, tmp_path: Path, moment: str, report: Report
) -> None:
    env = embedded_env(broker.port, tmp_path)
    split = traffic.pending_index if moment == "pending" else traffic.open_index
    first = start_ingest(env, tmp_path, "ingest-1")
    publish(traffic, broker.port, "fleet", 0, split)
    wait_processed(tmp_path, split)
    opened = tickets(db_of(tmp_path))
    assert (opened == []) if moment == "pending" else ([(t.rule, t.cleared_ms) for t in opened] == [(PLANTED[0], None)])
    kill9(first)
    publish(traffic, broker.port, "fleet", split, len(traffic.messages))  # while ingest is down: the broker queues
    second = start_ingest(env, tmp_path, "ingest-2")
    try:
        report(**assert_nothing_lost_or_doubled(tmp_path, traffic), restart_to_subscribed_s=round(second.ready_s, 1))
    finally:
        assert second.stop() == 0, second.text()[-3000:]


def test_broker_restart_mid_stream_sigterm_twice(
    broker: Broker, traffic: Traffic, tmp_path: Path, report: Report
) -> None:
    """SIGTERM: the broker saves everything, backlog included, so the fleet publishes flat out through two restarts."""
    ingest = start_ingest(embedded_env(broker.port, tmp_path), tmp_path, "ingest")
    broker.wait_saved_after(time.time())  # ingest's session must be in the broker's persistence
    try:
        publisher = publish_in_background(traffic, broker.port, "fleet")
        when_processed(tmp_path, 1000, lambda: broker.restart(signal.SIGTERM, down_s=3))
        when_processed(tmp_path, 2000, lambda: broker.restart(signal.SIGTERM, down_s=3))
        join(publisher)
        report(**assert_nothing_lost_or_doubled(tmp_path, traffic))
    finally:
        assert ingest.stop() == 0, ingest.text()[-3000:]


def test_broker_crash_mid_stream(broker: Broker, traffic: Traffic, tmp_path: Path, report: Report) -> None:
    """SIGKILL: the broker restarts from its last snapshot (autosave_interval), older than what ingest committed.

    Mosquitto 2.0 loses what it acknowledged after that snapshot and had not yet delivered (no broker can
    keep what it never wrote), so the crash comes when ingest has taken everything published so far. The
    snapshot is made to hold a queue for ingest (ingest is paused while the first half is published, then
    resumed), so after the crash the broker delivers that half again: the test holds the pipeline to
    recognising every one of those repeats, to reconnecting on its own, and to the reports after the crash.
    """
    ingest = start_ingest(embedded_env(broker.port, tmp_path), tmp_path, "ingest")
    half = len(traffic.messages) // 2
    try:
        ingest.popen.send_signal(signal.SIGSTOP)
        publish(traffic, broker.port, "fleet", 0, half, 1000.0)  # a city's pace: 10,000 trucks every 10 s
        broker.wait_saved_after(time.time())  # the snapshot holds ingest's session and its queue
        ingest.popen.send_signal(signal.SIGCONT)
        wait_processed(tmp_path, half)
        broker.restart(signal.SIGKILL, down_s=3)
        publish(traffic, broker.port, "fleet", half, len(traffic.messages), 1000.0)
        row = assert_nothing_lost_or_doubled(tmp_path, traffic)
        assert row["repeats_dropped"] > 0, "the snapshot's queue was not delivered again"
        report(**row)
    finally:
        ingest.popen.send_signal(signal.SIGCONT)
        assert ingest.stop() == 0, ingest.text()[-3000:]


def health(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_a_locked_ticket_database_ends_ingest_with_the_reason_and_loses_nothing(
    broker: Broker, traffic: Traffic, tmp_path: Path, report: Report
) -> None:
    port = free_port()
    env = embedded_env(broker.port, tmp_path, CITYWATCH_STORE_RETRY_S="15", CITYWATCH_HEALTH_PORT=str(port))
    first = start_ingest(env, tmp_path, "ingest-1")
    assert health(port)[0] == 200
    publish(traffic, broker.port, "fleet", 0, 300)
    wait_processed(tmp_path, 300)
    metrics = harness.scrape(port)  # the embedded process's /metrics: ingest's and the rules' counters
    assert metrics["citywatch_ingest_received_total"] == 300 == metrics['citywatch_worker_events_total{stage="all"}']
    lock = sqlite3.connect(db_of(tmp_path), isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        publish(traffic, broker.port, "fleet", 300, 600)
        wait_for(
            lambda: health(port)[0] == 503 and '"store": false' in health(port)[1],
            60,
            what="/healthz to report the store unavailable",
        )
        wait_for(lambda: first.popen.poll() is not None, 90, what="ingest to give up and exit")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert first.popen.returncode != 0
    assert "ingest stopped" in first.text() and "database is locked" in first.text()
    second = start_ingest(env, tmp_path, "ingest-2")
    try:
        publish(traffic, broker.port, "fleet", 600, len(traffic.messages))
        report(**assert_nothing_lost_or_doubled(tmp_path, traffic))
    finally:
        assert second.stop() == 0, second.text()[-3000:]
