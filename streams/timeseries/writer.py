"""Write line-protocol records to InfluxDB without ever blocking the caller for long.

``offer`` only enqueues: it counts the records as *pending* (accepted, not yet written or given up)
and hands them to a writer thread, which feeds influxdb-client's batching ``WriteApi`` (batches of
``batch_size`` lines, retries with exponential backoff). A batch whose retries run out with a
retryable error (network, 5xx, 429) goes back into the queue and is tried again, so InfluxDB
being down or slow costs memory, never data — up to ``max_pending`` lines. Past that bound,
``offer`` drops the new records, counts them and logs it (at most every ``log_every_s``).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from influxdb_client import InfluxDBClient, WriteOptions, WritePrecision
from influxdb_client.rest import ApiException
from reactivex.scheduler import ThreadPoolScheduler

log = structlog.get_logger("streams.timeseries")


@dataclass(frozen=True)
class InfluxConfig:
    """Where and how to write (1.8: token ``user:password``, org ``-``, bucket ``db/rp``)."""

    url: str
    token: str
    org: str
    bucket: str
    batch_size: int = 5000
    flush_interval_ms: int = 1000
    max_pending: int = 200_000
    retry_interval_ms: int = 1000
    max_retry_delay_ms: int = 30_000
    max_retry_time_ms: int = 60_000
    timeout_ms: int = 10_000
    close_timeout_s: float = 30.0
    log_every_s: float = 10.0

    def client(self) -> InfluxDBClient:
        """Return a client for this server (for queries too)."""
        return InfluxDBClient(url=self.url, token=self.token, org=self.org, timeout=self.timeout_ms)


@dataclass
class WriterStats:
    """Counters, in lines (one line = one point)."""

    accepted: int = 0
    written: int = 0
    dropped: int = 0  # refused because max_pending was reached
    rejected: int = 0  # refused by InfluxDB with a non-retryable error (bad data, auth, no database)
    lost_on_close: int = 0  # still failing when the writer was closed
    retries: int = 0
    requeued: int = 0
    last_error: str | None = None
    pending: int = 0
    failing_since: float | None = field(default=None, repr=False)


def retryable(exc: BaseException) -> bool:
    """Tell whether a failed write may succeed later (network, 5xx, 429) or never will (4xx)."""
    status = getattr(exc, "status", None)
    if isinstance(exc, ApiException) and status is not None:
        return status == 429 or status >= 500
    return True


def _lines_in(body: Any) -> int:
    data = body if isinstance(body, bytes) else str(body).encode()
    return data.count(b"\n") + 1 if data else 0


class TimeSeriesWriter:
    """A bounded, non-blocking front of influxdb-client's batching write API."""

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self.stats = WriterStats()
        self._cond = threading.Condition()
        self._queue: queue.SimpleQueue[list[str] | bytes | None] = queue.SimpleQueue()
        self._closing = False
        self._closed = False  # close() finished: nothing is pending any more, late callbacks are ignored
        self._last_drop_log = float("-inf")
        self._dropped_since_log = 0
        self._scheduler = ThreadPoolScheduler(max_workers=1)
        self._client = config.client()
        self._write_api = self._client.write_api(
            write_options=self._options(),
            success_callback=self._on_success,
            error_callback=self._on_error,
            retry_callback=self._on_retry,
        )
        self._thread = threading.Thread(target=self._drain, name="influx-writer", daemon=True)
        self._thread.start()
        log.info("influx.writer_started", url=config.url, bucket=config.bucket, max_pending=config.max_pending)

    def _options(self) -> WriteOptions:
        c = self.config
        return WriteOptions(
            batch_size=c.batch_size,
            flush_interval=c.flush_interval_ms,
            retry_interval=c.retry_interval_ms,
            max_retries=10_000,
            max_retry_delay=c.max_retry_delay_ms,
            max_retry_time=c.max_retry_time_ms,
            exponential_base=2,
            max_close_wait=int(c.close_timeout_s * 1000),
            write_scheduler=self._scheduler,
        )

    def has_room(self, n: int) -> bool:
        """Tell whether n more lines fit under max_pending right now."""
        return self.stats.pending + n <= self.config.max_pending

    def offer(self, lines: list[str], timeout: float = 0.0) -> bool:
        """Enqueue records; wait up to timeout for room, else drop and count them. Return True if taken."""
        if not lines:
            return True
        n = len(lines)
        with self._cond:
            if self._closing:
                raise RuntimeError("the InfluxDB writer is closed")
            if not self._cond.wait_for(lambda: self.has_room(n), timeout):
                self._drop(n)
                return False
            self.stats.pending += n
            self.stats.accepted += n
        self._queue.put(lines)
        return True

    def _drop(self, n: int) -> None:
        """Count dropped records and log it, at most every log_every_s (caller holds the lock)."""
        self.stats.dropped += n
        self._dropped_since_log += n
        now = time.monotonic()
        if now - self._last_drop_log >= self.config.log_every_s:
            log.error(
                "influx.buffer_full_dropping",
                dropped=self._dropped_since_log,
                dropped_total=self.stats.dropped,
                pending=self.stats.pending,
                max_pending=self.config.max_pending,
                last_error=self.stats.last_error,
            )
            self._last_drop_log, self._dropped_since_log = now, 0

    def _drain(self) -> None:
        """Feed the batching write API from the queue until close() sends None."""
        while (item := self._queue.get()) is not None:
            self._write_api.write(
                self.config.bucket,
                self.config.org,
                item,
                write_precision=WritePrecision.MS,  # type: ignore[arg-type]  # its members are plain str
            )

    def _settle(self, n: int, counter: str) -> None:
        with self._cond:
            if self._closed:  # a callback after close() gave up on everything still pending
                return
            self.stats.pending -= n
            setattr(self.stats, counter, getattr(self.stats, counter) + n)
            self._cond.notify_all()

    def _on_success(self, _conf: tuple[str, str, str], body: Any) -> None:
        if self.stats.failing_since is not None:
            down_s = round(time.monotonic() - self.stats.failing_since, 1)
            log.warning("influx.recovered", after_s=down_s, pending=self.stats.pending)
            self.stats.failing_since = None
        self._settle(_lines_in(body), "written")

    def _on_retry(self, _conf: tuple[str, str, str], _body: Any, exc: BaseException) -> None:
        self.stats.retries += 1
        self._note_failure(exc, "influx.write_retrying")

    def _note_failure(self, exc: BaseException, event: str) -> None:
        self.stats.last_error = f"{type(exc).__name__}: {exc}"[:300]
        if self.stats.failing_since is None:
            self.stats.failing_since = time.monotonic()
            log.warning(event, error=self.stats.last_error, pending=self.stats.pending, url=self.config.url)

    def _on_error(self, _conf: tuple[str, str, str], body: Any, exc: BaseException) -> None:
        n = _lines_in(body)
        if self._closed:  # already counted lost by close(); the write API only now gave up on it
            return
        if not retryable(exc):
            log.error("influx.write_rejected", lines=n, error=f"{type(exc).__name__}: {exc}"[:500])
            self._settle(n, "rejected")
        elif self._closing:
            log.error("influx.write_lost_on_close", lines=n, error=f"{type(exc).__name__}: {exc}"[:300])
            self._settle(n, "lost_on_close")
        else:
            self._note_failure(exc, "influx.write_failing")
            self.stats.requeued += n
            self._queue.put(body if isinstance(body, bytes) else str(body).encode())

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is pending (everything written or given up); return whether it is so."""
        with self._cond:
            return self._cond.wait_for(lambda: self.stats.pending == 0, timeout)

    def close(self) -> None:
        """Write what is pending (up to close_timeout_s), then stop the thread and the client."""
        self.wait_idle(self.config.close_timeout_s)
        with self._cond:
            self._closing = True
        self._queue.put(None)
        self._thread.join(self.config.close_timeout_s)
        self._write_api.close()
        self._count_unwritten()
        self._count_abandoned()
        self._client.close()
        self._scheduler.executor.shutdown(wait=False)
        log.info("influx.writer_closed", **{k: v for k, v in vars(self.stats).items() if k != "failing_since"})

    def _count_abandoned(self) -> None:
        """Count batches the write API still retried when its close wait ran out as lost on close."""
        with self._cond:
            n, self._closed = self.stats.pending, True
            if n:
                log.error("influx.write_lost_on_close", lines=n, error=self.stats.last_error, abandoned=True)
                self.stats.lost_on_close += n
                self.stats.pending = 0
            self._cond.notify_all()

    def _count_unwritten(self) -> None:
        """Count what is still queued after the writer thread stopped as lost on close."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                n = len(item) if isinstance(item, list) else _lines_in(item)
                log.error("influx.write_lost_on_close", lines=n, error=self.stats.last_error)
                self._settle(n, "lost_on_close")
