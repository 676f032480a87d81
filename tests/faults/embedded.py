"""Run ``citywatch ingest --mode embedded`` as a process of its own, and read its progress from outside:
the ticket database holds the runner's committed state (events, duplicates, each device's last seq)."""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from tests.e2e import harness
from tests.e2e.harness import BIN, REPO, Proc, stopped_on_failure


@dataclass(frozen=True)
class Progress:
    """What the embedded runner has committed."""

    events: int  # every event taken, repeats included
    duplicates: int  # repeats the engine recognised (same device, seq and time not newer)

    @property
    def new(self) -> int:
        """Events processed once: published = new + dead-lettered, if nothing was lost."""
        return self.events - self.duplicates


@dataclass(frozen=True)
class TicketRow:
    rule: str
    subject: str
    opened_ms: int
    cleared_ms: int | None


def embedded_env(mqtt_port: int, tmp: Path, **extra: str) -> dict[str, str]:
    """Return the environment of an embedded ingest on a private broker, default client id and session."""
    return {
        "CITYWATCH_MQTT_HOST": "127.0.0.1",
        "CITYWATCH_MQTT_PORT": str(mqtt_port),
        "CITYWATCH_CITY_DIR": str(REPO / "cities" / "demo"),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
        "CITYWATCH_DEADLETTER_PATH": str(tmp / "deadletter.jsonl"),
        **extra,
    }


def start_ingest(env: dict[str, str], tmp: Path, name: str) -> Proc:
    """Start an embedded ingest and wait until it is subscribed (resumed from the database, if it holds state)."""
    started = time.monotonic()
    proc = harness.start(name, [str(BIN / "citywatch"), "--log-json", "ingest", "--mode", "embedded"], env, tmp)
    with stopped_on_failure(proc):
        proc.wait_for_line(r"ingest\.started", timeout=60)
    proc.ready_s = time.monotonic() - started  # type: ignore[attr-defined]
    return proc


def _query(db: Path, sql: str) -> list[tuple[object, ...]]:
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
        try:
            return list(conn.execute(sql))
        except sqlite3.OperationalError:  # not migrated yet, or locked by the test itself
            return []


def progress(db: Path) -> Progress:
    """Return the runner's committed counters (zero before its first commit)."""
    rows = _query(db, "SELECT state FROM rule_state WHERE scope = 'runner' AND key = 'stats'")
    stats = json.loads(str(rows[0][0])) if rows else {"events": 0, "duplicates": 0}
    return Progress(int(stats["events"]), int(stats["duplicates"]))


def tickets(db: Path) -> list[TicketRow]:
    """Return the tickets (alert episodes) in the database."""
    rows = _query(db, "SELECT rule, subject, opened_ms, cleared_ms FROM tickets ORDER BY ticket_id")
    return [TicketRow(str(r), str(s), int(o), None if c is None else int(c)) for r, s, o, c in rows]  # type: ignore[call-overload]


def deadletters(tmp: Path) -> int:
    """Return how many dead letters the embedded ingest wrote."""
    path = tmp / "deadletter.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0
