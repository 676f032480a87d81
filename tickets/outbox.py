"""Webhook export of case events to the city platform, through the transactional outbox.

Case changes write their events to the ``outbox`` table in the same transaction (``casebook``).
This worker posts them, oldest first, to the configured URL: each POST carries the event id as
``Idempotency-Key`` (delivery is at-least-once; the receiver drops repeats) and, with a secret,
a signature against forgery and replay: ``X-Citywatch-Timestamp`` (Unix seconds at sending) and
``X-Citywatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``; each attempt
is signed afresh. A receiver checks both with ``verify_signature`` (or the same few lines in its
own language): a wrong signature or a timestamp more than 5 minutes from its clock is refused,
and Idempotency-Keys seen within that window are dropped. A failing receiver gets a few quick
retries (tenacity), then the event waits with capped exponential backoff and the pass stops, so
order is kept and nothing is lost while the receiver is down. With PostgreSQL, one worker at a
time holds the delivery lease.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import (
    Retrying,
    retry_base,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tickets.store import TicketStore, wall_ms

log = structlog.get_logger("tickets.outbox")
SIGNATURE_TOLERANCE_S = 300  # receivers refuse deliveries signed further from their clock than this


class DeliveryFailed(Exception):
    """The receiver did not accept an event (network error or a non-2xx answer)."""


@dataclass(frozen=True)
class WebhookConfig:
    """Where and how to deliver."""

    url: str
    secret: str | None = None
    timeout_s: float = 5.0
    quick_retries: int = 3
    backoff_base_s: float = 2.0
    backoff_max_s: float = 300.0
    batch: int = 100


def signature(secret: str, timestamp_s: int, body: bytes) -> str:
    """Return the X-Citywatch-Signature value: sha256= and the hex HMAC-SHA256 of "{timestamp}." + body."""
    signed = str(timestamp_s).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | None,
    body: bytes,
    sig: str | None,
    now_s: float,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """Tell whether a delivery is authentic and fresh: what a receiver checks before it trusts a POST."""
    if not (
        sig and sig.isascii() and timestamp and len(timestamp) <= 12 and timestamp.isascii() and timestamp.isdigit()
    ):
        return False
    if abs(now_s - int(timestamp)) > tolerance_s:
        return False  # stale (a replay) or from a clock far off
    return hmac.compare_digest(signature(secret, int(timestamp), body), sig)


def quick_retries(attempts: int, retry: retry_base) -> Retrying:
    """Return the few quick tries a delivery gets before it waits with backoff (the outbox's, the channels')."""
    return Retrying(
        stop=stop_after_attempt(attempts), reraise=True, wait=wait_exponential(multiplier=0.1, max=1.0), retry=retry
    )


def backoff_ms(attempts: int, cfg: WebhookConfig) -> int:
    """Return the wait before the next pass after this many failed attempts."""
    return int(min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** max(0, attempts - 1)) * 1000)


class OutboxWorker:
    """Delivers outbox events to a webhook, on a thread or one pass at a time."""

    def __init__(self, store: TicketStore, cfg: WebhookConfig, clock: Callable[[], int] = wall_ms) -> None:
        self.store, self.cfg, self.clock = store, cfg, clock
        self.client = httpx.Client(timeout=cfg.timeout_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failures = 0

    def deliver_once(self) -> int:
        """Deliver the events that are due, in order; stop at the first failure. Return how many."""
        with self.store.outbox_lease() as held:
            if not held:
                return 0
            done = 0
            for event in self.store.outbox_pending(self.cfg.batch):
                if event["next_attempt_ms"] > self.clock() or not self._deliver(event):
                    break  # the head is backing off or failed: later events wait, so order is kept
                done += 1
            self.delivered += done
            return done

    def _deliver(self, event: dict[str, Any]) -> bool:
        try:
            for attempt in quick_retries(self.cfg.quick_retries, retry_if_exception_type(DeliveryFailed)):
                with attempt:
                    self._post(event)
        except DeliveryFailed as exc:
            self.failures += 1
            next_ms = self.clock() + backoff_ms(event["attempts"] + 1, self.cfg)
            self.store.outbox_failed(event["seq"], str(exc), next_ms)
            log.warning("outbox.failed", event_id=event["event_id"], attempts=event["attempts"] + 1, error=str(exc))
            return False
        self.store.outbox_delivered(event["seq"], self.clock())
        return True

    def _post(self, event: dict[str, Any]) -> None:
        body = event["payload"].encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": event["event_id"],
            "X-Citywatch-Event": event["event_type"],
        }
        if self.cfg.secret:
            timestamp = self.clock() // 1000
            headers["X-Citywatch-Timestamp"] = str(timestamp)
            headers["X-Citywatch-Signature"] = signature(self.cfg.secret, timestamp, body)
        try:
            resp = self.client.post(self.cfg.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= resp.status_code < 300:
            raise DeliveryFailed(f"HTTP {resp.status_code}")

    def start(self, interval_s: float = 1.0) -> None:
        """Deliver on a background thread every interval_s until stop()."""
        self._thread = threading.Thread(target=self._run, args=(interval_s,), name="outbox", daemon=True)
        self._thread.start()

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_once()
            except Exception as exc:
                log.error("outbox.pass_failed", error=repr(exc))
            self._stop.wait(interval_s)

    def stop(self) -> None:
        """Stop the thread and close the HTTP client."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.client.close()
