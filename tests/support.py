"""Helpers for tests: bounded waits on conditions (never a bare sleep and hope)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

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
