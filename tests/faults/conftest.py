"""Fixtures of the fault tests: the scripted traffic, a PostgreSQL database, the figures report (the private
broker is in tests/conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from tests.faults.broker import REPO
from tests.faults.fleet import Traffic, make_traffic
from tests.tickets.conftest import postgres_url


@pytest.fixture
def traffic() -> Traffic:
    """Return the ~3,000 scripted messages, ending a minute ago."""
    return make_traffic()


__all__ = ["postgres_url"]  # a fresh database on the real PostgreSQL, from the tickets tests' fixtures


Report = Callable[..., None]


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """Return a function that appends a test's figures (rates, RSS, recovery times) to
    ``test-artifacts/faults.jsonl``: the fault table of the closing note is read from there."""
    path = REPO / "test-artifacts" / "faults.jsonl"

    def write(**figures: object) -> None:
        path.parent.mkdir(exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(
                json.dumps({"test": request.node.nodeid, "at": time.strftime("%Y-%m-%dT%H:%M:%S"), **figures}) + "\n"
            )

    return write
