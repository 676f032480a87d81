"""The embedded ingest stops cleanly on a signal that arrives while it is still starting."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest

import citywatch.pipeline
from citywatch.cli import _run_embedded_ingest
from citywatch.settings import Settings


class SignalNotHandled(Exception):
    """SIGTERM reached the handler that was there before the CLI installed its own."""


def _not_handled(_signum: int, _frame: object) -> None:
    raise SignalNotHandled("SIGTERM arrived before the ingest's handler was installed")


@pytest.fixture
def own_signal_handlers() -> Iterator[None]:
    """Fail (rather than kill pytest) on a SIGTERM the CLI did not catch; restore pytest's handlers after."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _not_handled)
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


class SignalledWhileStarting:
    """Stands in for the pipeline: SIGTERM reaches the process while start() runs, as a supervisor might send it."""

    instances: ClassVar[list[SignalledWhileStarting]] = []

    def __init__(self, settings: Settings) -> None:
        self.done = threading.Event()
        self.stopped = False
        SignalledWhileStarting.instances.append(self)

    def start(self) -> None:
        """Deliver SIGTERM to this process (the handler runs before kill returns, on the main thread)."""
        os.kill(os.getpid(), signal.SIGTERM)

    def stop(self) -> None:
        """Record the clean stop."""
        self.stopped = True


def test_sigterm_during_start_stops_the_pipeline_cleanly(
    monkeypatch: pytest.MonkeyPatch, own_signal_handlers: None
) -> None:
    monkeypatch.setattr(citywatch.pipeline, "EmbeddedPipeline", SignalledWhileStarting)
    monkeypatch.setattr("citywatch.runtime.tune_gc_for_service", lambda: None)
    _run_embedded_ingest(Settings(health_port=0))  # returns: the signal was handled, not fatal
    assert SignalledWhileStarting.instances[-1].stopped
