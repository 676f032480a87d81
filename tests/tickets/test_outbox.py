"""The webhook outbox against a real loopback HTTP receiver that is down, then failing, then up: nothing is lost.

The receiver checks every delivery as the README tells a city platform to: the HMAC-SHA256
signature over timestamp + "." + body, and a timestamp within 5 minutes of its own clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from citywatch.broker import free_port
from rules.alerts import Phase
from tests.tickets.conftest import Clock
from tests.tickets.test_store import LEAD, T, make_alert
from tickets.lifecycle import Action, Command
from tickets.outbox import (
    SIGNATURE_TOLERANCE_S,
    OutboxWorker,
    WebhookConfig,
    backoff_ms,
    signature,
    verify_signature,
)
from tickets.store import TicketStore

SECRET = "s3cret-webhook-key"


class Receiver:
    """A city platform stand-in on loopback: records every POST; can answer 503 for a while."""

    def __init__(self, port: int, now_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000) -> None:
        self.port = port
        self.now_ms = now_ms  # the receiver's clock, which judges whether a delivery is fresh
        self.received: list[dict[str, object]] = []
        self.raw: list[tuple[dict[str, str], bytes]] = []
        self.keys: list[str] = []
        self.failures_left = 0
        self.bad_signatures = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.failures_left > 0:
                    receiver.failures_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if not verify_signature(
                    SECRET,
                    self.headers["X-Citywatch-Timestamp"],
                    body,
                    self.headers["X-Citywatch-Signature"],
                    receiver.now_ms() / 1000,
                ):
                    receiver.bad_signatures += 1
                receiver.raw.append((dict(self.headers.items()), body))
                receiver.keys.append(self.headers["Idempotency-Key"])
                receiver.received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver(clock: Clock) -> Iterator[Receiver]:
    """Return a receiver (not started) whose clock is the test's clock."""
    r = Receiver(free_port(), clock)
    yield r
    r.stop()


def test_events_wait_out_an_outage_and_arrive_once_in_order(
    store: TicketStore, clock: Clock, receiver: Receiver
) -> None:
    cfg = WebhookConfig(
        f"http://127.0.0.1:{receiver.port}/events",
        SECRET,
        timeout_s=2,
        quick_retries=2,
        backoff_base_s=1,
        backoff_max_s=8,
    )
    worker = OutboxWorker(store, cfg, clock=clock)
    try:
        store.apply([make_alert(Phase.OPEN, T)])
        store.act(1, Command(Action.ACCEPT), LEAD)
        assert worker.deliver_once() == 0  # receiver down: connection refused, the pass stops
        head = store.outbox_pending()[0]
        assert head["attempts"] == 1 and "ConnectError" in head["last_error"]
        assert worker.deliver_once() == 0 and store.outbox_pending()[0]["attempts"] == 1  # backing off: no attempt
        store.act(1, Command(Action.REGISTER), LEAD)  # more events pile up during the outage
        clock.now_ms += backoff_ms(1, cfg)
        assert worker.deliver_once() == 0 and store.outbox_pending()[0]["attempts"] == 2
        receiver.start()
        receiver.failures_left = 3  # up, but answering 503 a few times (quick retries cover 2 of them)
        clock.now_ms += backoff_ms(2, cfg)
        assert worker.deliver_once() == 0
        clock.now_ms += backoff_ms(3, cfg)
        assert worker.deliver_once() == 4  # everything, in order
        assert store.outbox_counts() == {"pending": 0, "delivered": 4}
        assert [e["type"] for e in receiver.received] == [
            "case.discover",
            "case.evidence",
            "case.accept",
            "case.register",
        ]
        assert receiver.keys == [e["event_id"] for e in receiver.received] and len(set(receiver.keys)) == 4
        assert receiver.bad_signatures == 0
        assert receiver.received[2]["audit"]["actor"] == "王敏"  # type: ignore[index]
        assert receiver.received[2]["case"]["stage"] == "accepted"  # type: ignore[index]
        assert worker.deliver_once() == 0  # nothing twice
    finally:
        worker.stop()


def test_the_worker_thread_delivers_what_a_restarted_process_left(
    store_target: str, config: object, receiver: Receiver
) -> None:
    first = TicketStore(store_target, config)  # type: ignore[arg-type]
    first.apply([make_alert(Phase.OPEN, T)])
    first.close()  # the process that wrote the events is gone; they wait in the database
    receiver.now_ms = lambda: time.time_ns() // 1_000_000  # the worker below signs with the wall clock
    receiver.start()
    second = TicketStore(store_target, config)  # type: ignore[arg-type]
    worker = OutboxWorker(second, WebhookConfig(f"http://127.0.0.1:{receiver.port}/", SECRET))
    worker.start(interval_s=0.05)
    try:
        from tests.support import wait_for

        wait_for(lambda: second.outbox_counts()["pending"] == 0, timeout=10, what="the worker to deliver")
        assert [e["type"] for e in receiver.received] == ["case.discover", "case.evidence"]
        assert receiver.bad_signatures == 0
    finally:
        worker.stop()
        second.close()


def test_each_attempt_is_signed_when_it_is_sent(store: TicketStore, clock: Clock, receiver: Receiver) -> None:
    cfg = WebhookConfig(
        f"http://127.0.0.1:{receiver.port}/",
        SECRET,
        timeout_s=2,
        quick_retries=1,
        backoff_base_s=600,
        backoff_max_s=600,
    )
    worker = OutboxWorker(store, cfg, clock=clock)
    try:
        store.apply([make_alert(Phase.OPEN, T)])
        assert worker.deliver_once() == 0  # receiver down: the events wait 10 minutes
        clock.now_ms += 600_000
        receiver.start()
        assert worker.deliver_once() == 2
        headers, body = receiver.raw[0]
        assert headers["X-Citywatch-Timestamp"] == str(clock.now_ms // 1000)  # not the time of the first attempt
        assert headers["X-Citywatch-Signature"] == signature(SECRET, clock.now_ms // 1000, body)
        assert receiver.bad_signatures == 0
    finally:
        worker.stop()


def test_a_receiver_refuses_forged_altered_and_replayed_deliveries(
    store: TicketStore, clock: Clock, receiver: Receiver
) -> None:
    worker = OutboxWorker(store, WebhookConfig(f"http://127.0.0.1:{receiver.port}/", SECRET), clock=clock)
    try:
        receiver.start()
        store.apply([make_alert(Phase.OPEN, T)])
        assert worker.deliver_once() == 2 and receiver.bad_signatures == 0
    finally:
        worker.stop()
    headers, body = receiver.raw[0]
    ts, sig, now_s = headers["X-Citywatch-Timestamp"], headers["X-Citywatch-Signature"], clock.now_ms / 1000
    assert verify_signature(SECRET, ts, body, sig, now_s)
    assert verify_signature(SECRET, ts, body, sig, now_s + SIGNATURE_TOLERANCE_S)  # late, still within 5 min
    assert not verify_signature(SECRET, ts, body, sig, now_s + SIGNATURE_TOLERANCE_S + 1)  # a replay, later
    assert not verify_signature(SECRET, ts, body, sig, now_s - SIGNATURE_TOLERANCE_S - 1)  # from the future
    assert not verify_signature(SECRET, str(int(ts) + 60), body, sig, now_s)  # timestamp moved
    assert not verify_signature(SECRET, ts, body.replace(b"discover", b"register"), sig, now_s)  # body altered
    assert not verify_signature("another-secret", ts, body, sig, now_s)
    for bad_ts, bad_sig in [
        (None, sig),
        ("", sig),
        ("12a", sig),
        ("9" * 5000, sig),
        ("１２", sig),
        (ts, None),
        (ts, ""),
        (ts, "sha256=" + "0" * 64),
        (ts, sig.upper()),
        (ts, "sha256=é"),
    ]:
        assert not verify_signature(SECRET, bad_ts, body, bad_sig, now_s), (bad_ts, bad_sig)


def test_no_secret_no_signature(store: TicketStore, clock: Clock, receiver: Receiver) -> None:
    worker = OutboxWorker(store, WebhookConfig(f"http://127.0.0.1:{receiver.port}/"), clock=clock)
    try:
        receiver.start()
        store.apply([make_alert(Phase.OPEN, T)])
        assert worker.deliver_once() == 2
    finally:
        worker.stop()
    headers, _ = receiver.raw[0]
    assert "X-Citywatch-Signature" not in headers and "X-Citywatch-Timestamp" not in headers
