"""Fixtures of the security tests: TLS files from the project's script, brokers from the deploy config."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ingest.mqtt_source import MqttConfig, MqttSource
from tests.security.broker import (
    SERVICE_ACCOUNTS,
    Broker,
    StartBroker,
    make_certs,
    start_broker,
)
from tests.security.probe import Probe


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a directory with a CA, the broker's certificate and an `ingest` client certificate."""
    return make_certs(tmp_path_factory.mktemp("certs") / "certs", "ingest")


@pytest.fixture
def start(tmp_path: Path, certs: Path) -> Iterator[StartBroker]:
    """Return a function that starts a broker from the deploy config; stop every one afterwards."""
    brokers: list[Broker] = []

    def start_one(extra: str = "") -> Broker:
        workdir = tmp_path / f"broker{len(brokers)}"
        workdir.mkdir()
        brokers.append(start_broker(workdir, certs, extra))
        return brokers[-1]

    yield start_one
    for broker in brokers:
        broker.stop()


@pytest.fixture
def broker(start: StartBroker) -> Broker:
    """Return a running broker: deploy config, real ACL, service accounts and the DEVICES of broker.py."""
    return start()


@pytest.fixture
def probes() -> Iterator[Callable[..., Probe]]:
    """Return a Probe factory; close every probe afterwards."""
    made: list[Probe] = []

    def make(*args: object, **kwargs: object) -> Probe:
        made.append(Probe(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for probe in made:
        probe.close()


@pytest.fixture
def ingest(broker: Broker) -> Iterator[MqttSource]:
    """Return the project's ingest source, logged in as `ingest` on the broker's plain listener."""
    source = MqttSource(
        MqttConfig(
            "127.0.0.1",
            broker.port,
            client_id=f"ingest-{uuid.uuid4().hex[:8]}",
            username="ingest",
            password=SERVICE_ACCOUNTS["ingest"],
            session_expiry_s=0,
        ),
        1000,
    )
    source.start()
    try:
        assert source.wait_subscribed(10), "ingest did not subscribe"
        yield source
    finally:
        source.stop()
