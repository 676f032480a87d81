"""Fixtures of the notify tests: fake providers on loopback, workers that are stopped after the test, cases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rules.alerts import Phase, Severity
from tests.tickets.conftest import Clock
from tests.tickets.notify.fakes import Answer, FakeProvider
from tests.tickets.test_store import T, make_alert
from tickets.notify.channels import build_channels
from tickets.notify.config import NotifyConfig
from tickets.notify.worker import NotifyWorker
from tickets.store import TicketStore

MakeWorker = Callable[..., NotifyWorker]


@pytest.fixture
def wecom() -> Iterator[FakeProvider]:
    """Return a WeCom robot stand-in (errcode 0 unless told otherwise)."""
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def dingtalk() -> Iterator[FakeProvider]:
    """Return a DingTalk robot stand-in."""
    provider = FakeProvider().start()
    yield provider
    provider.stop()


@pytest.fixture
def sms() -> Iterator[FakeProvider]:
    """Return an SMS gateway stand-in that answers {"code": "OK"}."""
    provider = FakeProvider(Answer(200, {"code": "OK", "message": "sent"})).start()
    yield provider
    provider.stop()


@pytest.fixture
def webhook() -> Iterator[FakeProvider]:
    """Return a webhook receiver stand-in that answers 204."""
    provider = FakeProvider(Answer(204)).start()
    yield provider
    provider.stop()


@pytest.fixture
def make_worker(clock: Clock) -> Iterator[MakeWorker]:
    """Return a factory of workers over a notify section (a dict) and an environment; stops them afterwards."""
    made: list[NotifyWorker] = []

    def factory(store: TicketStore, section: dict[str, Any], environ: dict[str, str] | None = None) -> NotifyWorker:
        cfg = NotifyConfig.model_validate(section)
        worker = NotifyWorker(store, cfg, build_channels(cfg, environ or {}), clock=clock)
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        worker.stop()


def open_case(
    store: TicketStore, i: int, matter: str = "08011", severity: Severity = Severity.MAJOR, ts_ms: int = T
) -> None:
    """Open case number i (a truck of its own, 1 km from the others): two events, case.discover and case.evidence."""
    store.apply(
        [
            make_alert(
                Phase.OPEN, ts_ms, subject=f"gps-x{i:02d}", lon=114.30 + 0.01 * i, matter=matter, severity=severity
            )
        ]
    )


def event_ids(store: TicketStore, event_type: str | None = None) -> list[str]:
    """Return the outbox event ids, oldest first (of one type, if given)."""
    return [e["event_id"] for e in store.notify_events(0, 10_000) if event_type in (None, e["event_type"])]
