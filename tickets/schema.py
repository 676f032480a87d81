"""The ticket database schema (SQLAlchemy Core), the same for SQLite and PostgreSQL.

Migrations (``tickets/migrations``, alembic) create and change it; this module is what the code
queries against and what ``alembic check`` compares with. Times are UTC epoch ms (BIGINT).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

alert_log = Table(
    "alert_log",
    metadata,
    Column("alert_id", String(80), primary_key=True),
    Column("phase", String(10), primary_key=True),
    Column("ts_ms", BigInteger, primary_key=True),
    Column("body", Text, nullable=False),
    Index("ix_alert_log_ts", "ts_ms"),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", Integer, primary_key=True, autoincrement=True),
    Column("case_no", String(32), unique=True),
    Column("stage", String(16), nullable=False, index=True),
    Column("matter_code", String(16), nullable=False, index=True),
    Column("matter_name", String(64), nullable=False),
    Column("queue", String(16), nullable=False, server_default="enforcement", index=True),
    Column("title", String(200), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("subjects", Json, nullable=False),
    Column("plates", Json, nullable=False),
    Column("owner", String(128)),
    Column("owner_kind", String(32)),
    Column("unit", String(128), index=True),
    Column("grid_cell", String(15)),
    Column("node", String(64), index=True),  # the org node (tickets.org) the case falls in; NULL: the city root
    Column("place", String(128)),
    Column("description", Text),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("discovered_ms", BigInteger, nullable=False),
    Column("stage_entered_ms", BigInteger, nullable=False),
    Column("deadline_ms", BigInteger),
    Column("handle_deadline_ms", BigInteger),
    Column("dispatched_ms", BigInteger),
    Column("handled_ms", BigInteger),
    Column("closed_ms", BigInteger),
    Column("handled_on_time", Boolean),
    Column("supervision_level", Integer, nullable=False, default=0),
    Column("supervisions", Integer, nullable=False, default=0),
    Column("extension_request", String(16)),
    Column("extensions", Integer, nullable=False, default=0),
    Column("reopened", Integer, nullable=False, default=0),
    Column("violation_active", Boolean, nullable=False, default=True),
    Column("evidence_count", Integer, nullable=False, default=0),
    Column("last_evidence_ms", BigInteger, nullable=False),
    Column("linked_case_id", Integer, ForeignKey("cases.case_id")),
    Column("version", Integer, nullable=False, default=0),
    Column("updated_ms", BigInteger, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("ticket_id", Integer, primary_key=True, autoincrement=True),
    Column("dedup_key", String(80), nullable=False, unique=True),
    Column("rule", String(64), nullable=False),
    Column("subject", String(64), nullable=False),
    Column("matter_code", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("violation", String(8), nullable=False),
    Column("opened_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("cleared_ms", BigInteger),
    Column("lon", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("alert_count", Integer, nullable=False),
    Column("evidence", Json, nullable=False),
    Column("case_id", Integer, ForeignKey("cases.case_id"), index=True),
)

case_evidence = Table(
    "case_evidence",
    metadata,
    Column("evidence_id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.case_id"), nullable=False),
    Column("ts_ms", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source", String(128), nullable=False),
    Column("ref", String(160), nullable=False),
    Column("summary", Text, nullable=False),
    Column("body", Json, nullable=False),
    UniqueConstraint("case_id", "ref", name="uq_case_evidence_ref"),
    Index("ix_case_evidence_case_ts", "case_id", "ts_ms"),
)

case_audit = Table(
    "case_audit",
    metadata,
    Column("audit_id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.case_id"), nullable=False, index=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(24), nullable=False),
    Column("from_stage", String(16)),
    Column("to_stage", String(16), nullable=False),
    Column("reason", Text),
    Column("detail", Json, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("case_id", Integer, nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ms", BigInteger, nullable=False),
    Column("delivered_ms", BigInteger),
    Column("last_error", Text),
    Index("ix_outbox_pending", "delivered_ms", "seq"),
)

notify_cursors = Table(  # per notification channel: the last outbox seq handled, and its retry state (tickets.notify)
    "notify_cursors",
    metadata,
    Column("channel", String(64), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),  # failed attempts since the last success
    Column("next_attempt_ms", BigInteger, nullable=False, default=0),
    Column("last_error", Text),
)

rule_state = Table(  # the embedded runner's rule state, written with the alerts it produced (tickets/checkpoint.py)
    "rule_state",
    metadata,
    Column("scope", String(16), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("state", Text, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

company_status = Table(  # 退出机制: a company's suspensions (one row each, lifted or not)
    "company_suspensions",
    metadata,
    Column("suspension_id", Id, primary_key=True, autoincrement=True),
    Column("company", String(128), nullable=False, index=True),
    Column("suspended_ms", BigInteger, nullable=False),
    Column("points", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("lifted_ms", BigInteger),
    Column("lifted_by", String(64)),
    Column("lift_reason", Text),
)

company_audit = Table(  # append-only: every suspension and lift, who, when and why
    "company_audit",
    metadata,
    Column("audit_id", Id, primary_key=True, autoincrement=True),
    Column("company", String(128), nullable=False, index=True),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("detail", Json, nullable=False),
)
