"""Fixtures of the tickets tests: a config with a known calendar, stores on SQLite and on real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from devices.inventory import City, load_city
from tests.conftest import SERVICES_ENV, _read_env
from tests.e2e.harness import REPO
from tickets.config import TicketConfig, load_config
from tickets.routing import CityResolver
from tickets.server import ServerThread
from tickets.service import TicketService
from tickets.store import TicketStore

REPO_CONFIG = "cities/demo/tickets.yaml"
TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> int:
    """Return epoch ms of a local Asia/Shanghai time 'YYYY-MM-DD HH:MM'."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=TZ).timestamp() * 1000)


class Clock:
    """A settable clock for the store and service."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def set(self, text: str) -> None:
        """Move to a local time."""
        self.now_ms = at(text)


@pytest.fixture
def config() -> TicketConfig:
    """Return the demo district's tickets config (2026 holidays, 08:30-12:00 / 13:30-17:30)."""
    return load_config(REPO_CONFIG)


@pytest.fixture
def clock() -> Clock:
    """Return a clock at Monday 2026-03-02 09:00 local time."""
    return Clock(at("2026-03-02 09:00"))


def postgres_base_url() -> str:
    """Return the URL of the PostgreSQL that scripts/services.sh started; fail if it is not up."""
    env: dict[str, str] = {}
    for path in (SERVICES_ENV.parent / "env.d" / "postgres.env", SERVICES_ENV):  # the plug-in's file, or all
        env.update(_read_env(path) if path.exists() else {})
    url = env.get("CITYWATCH_TICKET_DB_URL")
    if not url:
        pytest.fail("PostgreSQL is not running: `scripts/services.sh up` (make test does this) starts it")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Create a fresh database on the real PostgreSQL for one test; drop it afterwards."""
    base = make_url(postgres_base_url())
    name = f"cw_{uuid.uuid4().hex[:12]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_target(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """Return a store target: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "tickets.sqlite")  # type: ignore[operator]
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_target: str, config: TicketConfig, clock: Clock) -> Iterator[TicketStore]:
    """Return a store on SQLite and on PostgreSQL (the test runs once with each)."""
    s = TicketStore(store_target, config, clock=clock)
    yield s
    s.close()


@pytest.fixture(scope="module")
def city() -> City:
    """Return the demo city, loaded once per module."""
    return load_city(REPO / "cities" / "demo")


@pytest.fixture
def routed_store(store_target: str, config: TicketConfig, city: City, clock: Clock) -> Iterator[TicketStore]:
    """Return a store that routes by the demo city and names its matters, as the pipeline opens it."""
    s = TicketStore(store_target, config, CityResolver(config, city), clock=clock, matter_names=city.meta.matters)
    yield s
    s.close()


@contextmanager
def served(
    service: TicketService, timeout: float = 10.0, headers: Mapping[str, str] | None = None
) -> Iterator[httpx.Client]:
    """Serve the API with uvicorn on a loopback port; yield an HTTP client for it, and stop it after."""
    server = ServerThread(service).start()
    try:
        with httpx.Client(base_url=server.url, timeout=timeout, headers=headers) as c:
            yield c
    finally:
        server.stop()
