"""Engines and migrations: one code path for SQLite (embedded) and PostgreSQL (stack).

SQLite: WAL, a busy timeout, and write transactions that start with ``BEGIN IMMEDIATE`` so two
writers queue instead of deadlocking on a lock upgrade (reads begin deferred). PostgreSQL:
psycopg 3, a connection pool, and advisory locks where several processes could race (schema
migration, grouping of alerts into cases, outbox delivery). Migrations are alembic revisions in
``tickets/migrations``, applied at start-up under that lock, so any process may start first.
"""

from __future__ import annotations

import logging
import zlib
from pathlib import Path
from typing import Any

logging.getLogger("alembic").setLevel(logging.WARNING)  # before alembic loads its plugins (INFO lines)

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.pool import StaticPool

from tickets.errors import TicketError

READ = {"cw_read": True}


def database_url(target: str | Path) -> str:
    """Return a SQLAlchemy URL for a URL or a SQLite file path (':memory:' works too)."""
    text = str(target)
    if "://" in text:
        return text
    if text == ":memory:":
        return "sqlite://"
    Path(text).parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(text).resolve()}"


def make_engine(url: str) -> Engine:
    """Create the engine for a URL, with the SQLite transaction settings described above."""
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    memory = url in ("sqlite://", "sqlite:///:memory:")
    engine = create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool if memory else None)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event emit BEGIN itself
    cur = dbapi_conn.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON", "synchronous=NORMAL"):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = "DEFERRED" if conn.get_execution_options().get("cw_read") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


def advisory_lock(conn: Connection, name: str) -> None:
    """Hold a PostgreSQL transaction-level advisory lock on name (SQLite: the write lock does it)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({lock_key(name)})")


def try_advisory_lock(conn: Connection, name: str) -> bool:
    """Try a PostgreSQL transaction-level advisory lock; True if held (always on SQLite)."""
    if conn.dialect.name != "postgresql":
        return True
    return bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_xact_lock({lock_key(name)})").scalar())


def lock_key(name: str) -> int:
    """Return a stable signed 32-bit key for a lock name."""
    return zlib.crc32(f"citywatch:{name}".encode()) - 2**31


def alembic_config(conn: Connection | None = None) -> Config:
    """Return an alembic Config for the tickets migrations (on conn, if given)."""
    cfg = Config()
    cfg.set_main_option("script_location", "tickets:migrations")
    cfg.attributes["connection"] = conn
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to revision under a lock (safe when several processes start at once)."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    with engine.begin() as conn:
        advisory_lock(conn, "migrate")
        _refuse_legacy(conn, engine)
        command.upgrade(alembic_config(conn), revision)


def _refuse_legacy(conn: Connection, engine: Engine) -> None:
    names = set(inspect(conn).get_table_names())
    if "tickets" in names and "alembic_version" not in names:
        raise TicketError(
            f"{engine.url.render_as_string(hide_password=True)} holds a ticket store from before "
            "migrations; move it aside (the demo starts from an empty one)"
        )


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision the database is at."""
    with engine.connect().execution_options(**READ) as conn:
        if "alembic_version" not in inspect(conn).get_table_names():
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
