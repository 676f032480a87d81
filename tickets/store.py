"""The ticket store (SQLite, embedded default): alerts become tickets, one per violation episode.

Applying an alert is idempotent: the same alert phase delivered twice (QoS 1 or Kafka
redelivery, a replay) changes nothing. The case lifecycle proper comes in the tickets issue;
here a ticket records the violation (active / cleared) and its evidence.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.alerts import Alert, Phase

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
    ticket_id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key TEXT NOT NULL UNIQUE,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    matter_code TEXT NOT NULL,
    severity TEXT NOT NULL,
    violation TEXT NOT NULL CHECK (violation IN ('active', 'cleared')),
    opened_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    cleared_ms INTEGER,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    alert_count INTEGER NOT NULL,
    evidence TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alert_log (
    alert_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (alert_id, phase, ts_ms)
);
"""

INSERT = """
INSERT INTO tickets (dedup_key, rule, subject, matter_code, severity, violation, opened_ms,
                     updated_ms, cleared_ms, lon, lat, alert_count, evidence)
VALUES (:dedup_key, :rule, :subject, :matter_code, :severity, :violation, :ts_ms,
        :ts_ms, :cleared_ms, :lon, :lat, 1, :evidence)
"""

UPDATE = """
UPDATE tickets SET
    severity = :severity,
    violation = CASE WHEN violation = 'cleared' THEN 'cleared' ELSE :violation END,
    updated_ms = MAX(updated_ms, :ts_ms),
    cleared_ms = COALESCE(cleared_ms, :cleared_ms),
    alert_count = alert_count + 1,
    evidence = :evidence
WHERE dedup_key = :dedup_key
"""


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as stored."""

    ticket_id: int
    dedup_key: str
    rule: str
    subject: str
    matter_code: str
    severity: str
    violation: str
    opened_ms: int
    updated_ms: int
    cleared_ms: int | None
    lon: float
    lat: float
    alert_count: int
    evidence: dict[str, Any]


class TicketStore:
    """SQLite-backed tickets; safe to share between threads of one process."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def apply(self, alerts: list[Alert]) -> int:
        """Apply alerts in one transaction; return how many were new (not redeliveries)."""
        new = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                new = sum(self._apply_one(a) for a in alerts)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return new

    def _apply_one(self, alert: Alert) -> bool:
        body = json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True)
        cur = self._db.execute(
            "INSERT OR IGNORE INTO alert_log VALUES (?, ?, ?, ?)",
            (alert.alert_id, alert.phase.value, alert.ts_ms, body),
        )
        if cur.rowcount == 0:
            return False
        row = _row(alert, cleared=alert.phase is Phase.CLEAR)
        if self._db.execute(UPDATE, row).rowcount == 0:
            self._db.execute(INSERT, row)
        return True

    def list(self, violation: str | None = None) -> list[Ticket]:
        """Return tickets, oldest first, optionally only active or cleared ones."""
        sql = "SELECT * FROM tickets"
        args: tuple[str, ...] = ()
        if violation:
            sql, args = sql + " WHERE violation = ?", (violation,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY opened_ms, ticket_id", args).fetchall()
        return [Ticket(*r[:-1], evidence=json.loads(r[-1])) for r in rows]

    def counts_by_rule(self) -> dict[str, int]:
        """Return the number of tickets per rule."""
        with self._lock:
            rows = self._db.execute("SELECT rule, COUNT(*) FROM tickets GROUP BY rule").fetchall()
        return {rule: n for rule, n in rows}

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()


def _row(alert: Alert, cleared: bool) -> dict[str, Any]:
    return {
        "dedup_key": alert.alert_id,
        "rule": alert.rule,
        "subject": alert.subject,
        "matter_code": alert.matter_code,
        "severity": alert.severity.value,
        "violation": "cleared" if cleared else "active",
        "ts_ms": alert.ts_ms,
        "cleared_ms": alert.ts_ms if cleared else None,
        "lon": alert.lon,
        "lat": alert.lat,
        "evidence": json.dumps(alert.evidence, ensure_ascii=False, sort_keys=True),
    }
