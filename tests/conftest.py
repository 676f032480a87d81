"""Shared fixtures: where the real services are, unique names per test, bounded waits."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.broker import Broker
from tests.support import running

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
        pytest.fail("real services are not running: start them with `scripts/services.sh up` (make test does this)")
    env = {**_read_env(SERVICES_ENV), **{k: v for k, v in os.environ.items() if k.startswith("CITYWATCH_")}}
    return Services(
        mqtt_host=env.get("CITYWATCH_MQTT_HOST", "127.0.0.1"),
        mqtt_port=int(env["CITYWATCH_MQTT_PORT"]),
        kafka_bootstrap=env["CITYWATCH_KAFKA_BOOTSTRAP"],
    )


@pytest.fixture
def city_dir(tmp_path: Path) -> Path:
    """Return a copy of the minimal test city (tests/data/city_min) to change."""
    target = tmp_path / "city"
    shutil.copytree(Path(__file__).parent / "data" / "city_min", target)
    return target


@pytest.fixture
def unique() -> str:
    """Return a short unique token for topic, group and client names."""
    return uuid.uuid4().hex[:10]


@dataclass(frozen=True)
class Influx:
    """The real InfluxDB 1.8 that scripts/services.d/influxdb.sh started, and one database in it."""

    url: str
    token: str  # "user:password" in 1.8 compatibility mode
    org: str
    bucket: str  # "database/retention-policy"

    def influxql(self, statement: str) -> None:
        """Run an InfluxQL statement as the admin user (1.8 has no buckets API)."""
        import base64
        import urllib.parse
        import urllib.request

        req = urllib.request.Request(f"{self.url}/query", urllib.parse.urlencode({"q": statement}).encode())
        req.add_header("Authorization", "Basic " + base64.b64encode(self.token.encode()).decode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read().decode()
        assert '"error"' not in body, body


@pytest.fixture(scope="session")
def influx() -> Influx:
    """Return the real InfluxDB and its default database; fail (never skip) if it is not up."""
    env = {
        **(_read_env(SERVICES_ENV) if SERVICES_ENV.exists() else {}),
        **{k: v for k, v in os.environ.items() if k.startswith("CITYWATCH_INFLUX_")},
    }
    if "CITYWATCH_INFLUX_URL" not in env:
        pytest.fail("the real InfluxDB is not running: start it with `scripts/services.sh up` (make test does this)")
    return Influx(
        env["CITYWATCH_INFLUX_URL"],
        env["CITYWATCH_INFLUX_TOKEN"],
        env["CITYWATCH_INFLUX_ORG"],
        env["CITYWATCH_INFLUX_BUCKET"],
    )


@pytest.fixture
def influx_db(influx: Influx, unique: str) -> Iterator[Influx]:
    """Return a fresh, empty database for one test (dropped afterwards)."""
    name = f"test_{unique}"
    influx.influxql(f'CREATE DATABASE "{name}"')
    yield Influx(influx.url, influx.token, influx.org, f"{name}/autogen")
    influx.influxql(f'DROP DATABASE "{name}"')


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of the test's own with the production persistence settings, which it may kill or restart."""
    with running(Broker(tmp_path / "mosquitto")) as started:
        yield started
