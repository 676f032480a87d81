"""Shared fixtures: where the real services are, unique names per test, bounded waits."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES_ENV = Path(os.environ.get("CW_STATE_DIR") or REPO / ".services") / "env"  # see scripts/services.sh


@dataclass(frozen=True)
class Services:
    """Addresses of the Mosquitto and Kafka that scripts/services.sh started."""

    mqtt_host: str
    mqtt_port: int
    kafka_bootstrap: str


def _read_env(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


@pytest.fixture(scope="session")
def services() -> Services:
    """Return the real services; fail (never skip) if they are not up."""
    if not SERVICES_ENV.exists():
        pytest.fail("real services are not running: start them with `scripts/services.sh up` "
                    "(make test does this)")
    env = {**_read_env(SERVICES_ENV), **{k: v for k, v in os.environ.items() if k.startswith("CITYWATCH_")}}
    return Services(
        mqtt_host=env.get("CITYWATCH_MQTT_HOST", "127.0.0.1"),
        mqtt_port=int(env["CITYWATCH_MQTT_PORT"]),
        kafka_bootstrap=env["CITYWATCH_KAFKA_BOOTSTRAP"],
    )


@pytest.fixture
def unique() -> str:
    """Return a short unique token for topic, group and client names."""
    return uuid.uuid4().hex[:10]
