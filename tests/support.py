"""Helpers for tests: bounded waits on conditions (never a bare sleep and hope)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from datetime import time as dt_time
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

import pytest

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, interval: float = 0.1, what: str = "condition") -> T:
    """Poll until condition() is truthy and return it; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class Service(Protocol):
    """A server a test starts for itself (a private broker, a Kafka node)."""

    def start(self) -> Service: ...

    def stop(self) -> None: ...


S = TypeVar("S", bound=Service)


@contextmanager
def running(service: S) -> Iterator[S]:
    """Start a service of the test's own, yield it, and stop it whatever happens."""
    service.start()
    try:
        yield service
    finally:
        service.stop()


LATE_EVENING = dt_time(23, 45)  # collection deadlines are at 23:59: a run near midnight judges a day it did not watch


def clear_of_midnight(end_ms: int, duration_s: float, timezone: str) -> int:
    """Return ``end_ms``, moved back in 5-minute steps until the window ``duration_s`` before it neither
    crosses a local midnight nor starts after 23:45 local: recorded traffic that ends "a minute ago"
    must not see the day's collection deadline pass (every point would be a missed collection)."""
    zone = ZoneInfo(timezone)

    def local(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, zone)

    while True:
        start, end = local(end_ms - round(duration_s * 1000)), local(end_ms + 120_000)
        if start.date() == end.date() and start.time() < LATE_EVENING:
            return end_ms
        end_ms -= 300_000


def recorded_start_ms(duration_s: float, timezone: str, now_ms: int | None = None) -> int:
    """Return where recorded traffic of ``duration_s`` starts: ending a minute before ``now_ms`` (ingest
    refuses future timestamps), or earlier if that window would see a local midnight (``clear_of_midnight``)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    return clear_of_midnight(now_ms - 60_000, duration_s, timezone) - round(duration_s * 1000)
