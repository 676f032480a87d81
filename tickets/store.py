"""The ticket store: alerts become tickets (one per violation episode) and cases (one per violation).

SQLite for the embedded mode, PostgreSQL for the stack, one code path (SQLAlchemy Core), schema
by alembic migrations applied on open. ``apply`` is idempotent: the same alert phase delivered
twice (QoS 1 or Kafka redelivery, a replay) changes nothing. Every case change writes an
append-only audit record and an outbox event in the same transaction.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from rules.alerts import Alert
from tickets import queries, sanctions
from tickets.access import Scope
from tickets.casebook import WRITTEN, Context, act, add_note, verify_by_evidence
from tickets.checkpoint import StateChanges, StateKey, load_states, save_states
from tickets.config import TicketConfig
from tickets.db import READ, database_url, lock_key, make_engine, migrate
from tickets.errors import IllegalTransition, StaleCase, TicketError
from tickets.escalation import due
from tickets.grouping import Evidence, decide
from tickets.intake import apply_alert, candidates, place
from tickets.kpi import CompanyScore, by, company_scores, compute
from tickets.lifecycle import SYSTEM, Actor, AuditRecord, Command
from tickets.monthly import CaseMonth
from tickets.notify import cursors
from tickets.records import case_from_row
from tickets.routing import CityResolver, Resolver
from tickets.schema import outbox
from tickets.verification import Verdict

log = structlog.get_logger("tickets.store")
APPLY_RETRY_S = 120.0
Written = list[tuple[AuditRecord, dict[str, Any]]]  # the audit records a transaction wrote, with their case rows


def _log_retry(state: RetryCallState) -> None:
    """Say, on every retry, that the database is away (a silent wait looks like a hung process)."""
    exc = state.outcome.exception() if state.outcome else None
    log.warning(
        "store.unavailable_retrying",
        attempt=state.attempt_number,
        waited_s=round(state.seconds_since_start or 0.0, 1),
        error=str(exc)[:300],
    )


def wall_ms() -> int:
    """Return the wall clock in epoch ms (the store's default clock)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Ticket:
    """An alert episode as stored (one per rule, subject and episode start)."""

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
    case_id: int | None = None


class TicketStore:
    """Tickets and cases in SQLite (a path) or PostgreSQL (a URL); safe to share between threads."""

    def __init__(
        self,
        target: str | Path,
        config: TicketConfig | None = None,
        resolver: Resolver | None = None,
        clock: Callable[[], int] = wall_ms,
        matter_names: Mapping[str, str] | None = None,
        on_change: Callable[[Written], None] | None = None,
    ) -> None:
        self.url = database_url(target)
        self.engine = make_engine(self.url)
        migrate(self.engine)
        self.config = config or TicketConfig()
        self.ctx = Context(self.config, resolver or CityResolver(self.config), dict(matter_names or {}))
        self.clock = clock
        self.on_change = on_change  # called after each committed write with its audit records (never inside it)
        self.retry_s = APPLY_RETRY_S
        self.failing_since_ms: int | None = None  # set while apply waits for the database (for /healthz)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            written: Written = []
            conn.info[WRITTEN] = written
            try:
                yield conn
            finally:
                conn.info.pop(WRITTEN, None)  # info outlives the checkout (pooled DBAPI connection)
        if written and self.on_change is not None:
            try:
                self.on_change(written)
            except Exception:  # a hook (e.g. the InfluxDB writer) must never fail a committed change
                log.exception("case.on_change_failed", records=len(written))

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**READ) as conn, conn.begin():
            yield conn

    def writable(self) -> bool:
        """Tell whether a write transaction can begin now: the database is up, not read-only, not locked."""
        try:
            with self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE takes the write lock (busy timeout 10 s)
                if conn.dialect.name == "postgresql":
                    return conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "off"
                conn.exec_driver_sql("SELECT 1")
                return True
        except SQLAlchemyError:
            return False

    # --- alerts in (pipeline) -------------------------------------------------------------

    def apply(self, alerts: list[Alert], states: StateChanges | None = None) -> int:
        """Apply alerts (and the rule states that produced them) in one transaction; return how many
        alerts were new (not redeliveries). Retries while the database is away, up to ``retry_s``."""
        if not alerts and not states:
            return 0
        for attempt in Retrying(
            retry=retry_if_exception_type(OperationalError),
            reraise=True,
            before_sleep=_log_retry,
            wait=wait_exponential(multiplier=0.2, max=10),
            stop=stop_after_delay(self.retry_s),
        ):
            with attempt, self._write() as conn:  # a database that is briefly away: wait, lose nothing
                new = sum(apply_alert(conn, self.ctx, a) for a in alerts)
                if states:
                    save_states(conn, states, self.clock())
            if attempt.retry_state.outcome is not None and attempt.retry_state.outcome.failed:
                self.failing_since_ms = self.failing_since_ms or wall_ms()
                continue
            self.failing_since_ms = None
            return new
        return 0  # not reached: Retrying returns or re-raises

    def load_states(self) -> dict[StateKey, dict[str, Any]]:
        """Return the rule states stored with the alerts (the embedded runner resumes from them)."""
        with self._read() as conn:
            return load_states(conn)

    def list(self, violation: str | None = None) -> list[Ticket]:
        """Return tickets (alert episodes), oldest first, optionally only active or cleared ones."""
        with self._read() as conn:
            return [Ticket(**r) for r in queries.ticket_rows(conn, violation)]

    def counts_by_rule(self) -> dict[str, int]:
        """Return the number of tickets per rule."""
        with self._read() as conn:
            return queries.counts_by_rule(conn)

    def alert_log_count(self) -> int:
        """Return how many distinct alert phases were applied (redeliveries excluded)."""
        with self._read() as conn:
            return queries.alert_log_count(conn)

    def recent_alerts(self, limit: int = 50) -> builtins.list[dict[str, Any]]:
        """Return the latest alert phases, newest first."""
        with self._read() as conn:
            return queries.recent_alerts(conn, limit)

    # --- cases ------------------------------------------------------------------------------

    def cases(
        self, stage: str | None = None, scope: Scope | None = None, open_only: bool = False, limit: int = 200
    ) -> builtins.list[dict[str, Any]]:
        """Return cases, newest first (those a scope sees, if given)."""
        where = scope.where() if scope is not None else []
        with self._read() as conn:
            return queries.case_rows(conn, self.clock(), self.config.policy.calendar, stage, where, open_only, limit)

    def case(self, case_id: int) -> dict[str, Any] | None:
        """Return a case with evidence, audit trail and alert episodes (None if unknown)."""
        with self._read() as conn:
            return queries.case_detail(conn, case_id, self.clock(), self.config.policy.calendar)

    def case_row(self, case_id: int) -> dict[str, Any] | None:
        """Return a case's row alone, without its evidence and history (None if unknown)."""
        with self._read() as conn:
            return queries.case_row(conn, case_id)

    def act(
        self,
        case_id: int,
        command: Command,
        actor: Actor,
        expected_version: int | None = None,
        at_ms: int | None = None,
    ) -> dict[str, Any]:
        """Apply an action to a case; raise a TicketError if it is not allowed."""
        with self._write() as conn:
            row = act(conn, self.ctx, case_id, command, actor, at_ms or self.clock(), expected_version)
        log.info("case.action", case_id=case_id, action=command.action.value, actor=actor.name, stage=row["stage"])
        return row

    def note(
        self, case_id: int, actor: Actor, text: str, image_ref: str | None = None, at_ms: int | None = None
    ) -> None:
        """Attach a person's note or photo reference to a case."""
        with self._write() as conn:
            add_note(conn, case_id, actor, at_ms or self.clock(), text, image_ref)

    def report(
        self,
        matter_code: str,
        lon: float,
        lat: float,
        description: str,
        actor: Actor,
        source: str = "inspector",
        subject: str | None = None,
        at_ms: int | None = None,
    ) -> int:
        """Register a violation reported by a person (inspector, hotline); return its case id."""
        at = at_ms or self.clock()
        who = subject or f"{source}:{actor.name}"
        routing = self.ctx.resolver(who, matter_code, lon, lat, {})
        with self._write() as conn:
            ev = Evidence(f"report:{at}:{who}", matter_code, who, routing.plate, lon, lat, at)
            decision = decide(ev, candidates(conn, self.ctx, matter_code, at), self.config.grouping_policy)
            case_id = place(
                conn, self.ctx, decision, matter_code, who, lon, lat, at, "warning", source, routing, description
            )
            add_note(conn, case_id, actor, at, description)
        return case_id

    # --- automation -------------------------------------------------------------------------

    def escalate(self, now_ms: int | None = None) -> int:
        """Supervise (督办) every overdue case that is below its due level; return how many."""
        now = now_ms or self.clock()
        with self._read() as conn:
            rows = queries.overdue_cases(conn, now)
        done = 0
        for case, command in due(
            [case_from_row(r) for r in rows], now, self.config.levels, self.config.policy.calendar
        ):
            done += self._try(case.case_id, command, case.version, now)
        return done

    def _try(self, case_id: int, command: Command, version: int, now: int) -> bool:
        try:
            self.act(case_id, command, SYSTEM, expected_version=version, at_ms=now)
            return True
        except (StaleCase, IllegalTransition) as exc:  # someone acted first; the next sweep sees it
            log.info("case.skip", case_id=case_id, action=command.action.value, why=str(exc))
            return False

    def verification_candidates(self) -> builtins.list[dict[str, Any]]:
        """Return dispatched / handled cases whose matter evidence can verify."""
        with self._read() as conn:
            return queries.verification_candidates(conn, list(self.config.verification))

    def case_tickets(self, case_id: int) -> builtins.list[Ticket]:
        """Return a case's alert episodes."""
        with self._read() as conn:
            return [Ticket(**r) for r in queries.case_tickets(conn, case_id)]

    def verify(self, case_id: int, verdict: Verdict, at_ms: int | None = None) -> dict[str, Any]:
        """Verify a case by evidence (the system reports it handled first if needed)."""
        with self._write() as conn:
            row = verify_by_evidence(conn, self.ctx, case_id, verdict, at_ms or self.clock())
        log.info("case.verified_by_evidence", case_id=case_id, reason=verdict.reason)
        return row

    # --- figures ----------------------------------------------------------------------------

    def kpis(self, since_ms: int = 0, now_ms: int | None = None, scope: Scope | None = None) -> dict[str, Any]:
        """Return KPIs overall, by unit and by company, for cases discovered since since_ms (a scope's, if given)."""
        now = now_ms or self.clock()
        where = scope.where() if scope is not None else []
        with self._read() as conn:
            facts = queries.kpi_facts(conn, since_ms, now, self.config.policy.calendar, where)
        return {
            "overall": compute(facts).to_dict(),
            "by_unit": {k: v.to_dict() for k, v in by(facts, lambda f: f.unit).items()},
            "by_company": {k: v.to_dict() for k, v in by(facts, lambda f: f.company).items() if k != "未指定"},
        }

    def month(self, since_ms: int, until_ms: int, now_ms: int | None = None) -> CaseMonth:
        """Return what the monthly report needs of the cases discovered in [since_ms, until_ms), as of now."""
        now = now_ms or self.clock()
        with self._read() as conn:
            return CaseMonth(
                queries.kpi_facts(conn, since_ms, now, self.config.policy.calendar, until_ms=until_ms),
                queries.offences(conn, since_ms, until_ms),
                queries.matter_counts(conn, since_ms, until_ms),
                frozenset(sanctions.active(conn)),
            )

    def company_scores(self, now_ms: int | None = None) -> builtins.list[CompanyScore]:
        """Return company violation points over the scoring window (since a lifted suspension), worst first."""
        with self._read() as conn:
            return self._scores(conn, now_ms or self.clock())

    def _scores(self, conn: Connection, now: int) -> builtins.list[CompanyScore]:
        s = self.config.scoring
        lifts = sanctions.last_lifts(conn)
        found = [
            o
            for o in queries.offences(conn, now - s.window_days * 86_400_000)
            if o.discovered_ms > lifts.get(o.company, -1)
        ]
        matter_points = {c: m.points for c, m in self.config.matters.items() if m.points is not None}
        return company_scores(found, now, s.window_days, s.points, matter_points, s.suspend_at)

    # --- 退出机制: suspensions --------------------------------------------------------------------

    def enforce_suspensions(self, now_ms: int | None = None) -> builtins.list[str]:
        """Suspend every company over the threshold that is not suspended yet; return their names."""
        now = now_ms or self.clock()
        with self._write() as conn:
            done = sanctions.suspend_over_threshold(conn, self._scores(conn, now), self.config.scoring.suspend_at, now)
        for company in done:
            log.warning("company.suspended", company=company)
        return done

    def suspensions(self) -> dict[str, dict[str, Any]]:
        """Return the companies suspended now, with since when, points and reason."""
        with self._read() as conn:
            return sanctions.active(conn)

    def suspended_companies(self) -> frozenset[str]:
        """Return the names of the companies suspended now (the rules stop their trucks)."""
        return frozenset(self.suspensions())

    def use_city(self, city: Any) -> None:
        """Route new cases by a new city version (its grid, vehicles and matter names); any thread."""
        names = {**self.ctx.names, **dict(getattr(city.meta, "matters", {}) or {})}
        resolver = self.ctx.resolver
        if isinstance(resolver, CityResolver):
            resolver = CityResolver(self.config, city)
        self.ctx = replace(self.ctx, resolver=resolver, names=names)

    def lift_suspension(
        self, company: str, actor: Actor, reason: str | None, at_ms: int | None = None
    ) -> dict[str, Any]:
        """Lift a company's suspension (a shift lead, with a reason); its points start again from zero."""
        with self._write() as conn:
            row = sanctions.lift(conn, company, actor, reason, at_ms or self.clock())
        log.info("company.suspension_lifted", company=company, by=actor.name)
        return row

    def company_history(self, company: str) -> builtins.list[dict[str, Any]]:
        """Return a company's suspension audit, oldest first."""
        with self._read() as conn:
            return sanctions.history(conn, company)

    # --- outbox -----------------------------------------------------------------------------

    def outbox_pending(self, limit: int = 100) -> builtins.list[dict[str, Any]]:
        """Return undelivered events, oldest first (the head's next_attempt_ms says when to try)."""
        query = select(outbox).where(outbox.c.delivered_ms.is_(None)).order_by(outbox.c.seq).limit(limit)
        with self._read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def outbox_delivered(self, seq: int, at_ms: int) -> None:
        """Mark an event delivered."""
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.seq == seq)
                .values(delivered_ms=at_ms, attempts=outbox.c.attempts + 1, last_error=None)
            )

    def outbox_failed(self, seq: int, error: str, next_attempt_ms: int) -> None:
        """Record a failed attempt and when to try again."""
        with self._write() as conn:
            conn.execute(
                update(outbox)
                .where(outbox.c.seq == seq)
                .values(attempts=outbox.c.attempts + 1, last_error=error[:500], next_attempt_ms=next_attempt_ms)
            )

    def outbox_lease(self) -> AbstractContextManager[bool]:
        """Hold the delivery lease while delivering (PostgreSQL session lock; SQLite: one process)."""
        return self._lease("outbox")

    @contextmanager
    def _lease(self, name: str) -> Iterator[bool]:
        if not self.url.startswith("postgresql"):
            yield True
            return
        with self.engine.connect() as conn:
            held = bool(conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({lock_key(name)})").scalar())
            conn.commit()
            try:
                yield held
            finally:
                if held:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({lock_key(name)})")
                    conn.commit()

    def outbox_counts(self) -> dict[str, int]:
        """Return how many events are pending and delivered."""
        with self._read() as conn:
            return queries.outbox_counts(conn)

    def case_gauges(self, now_ms: int | None = None) -> tuple[dict[str, int], int]:
        """Return the cases in each stage and the open ones past their stage's deadline (for /metrics)."""
        with self._read() as conn:
            return queries.case_gauges(conn, wall_ms() if now_ms is None else now_ms)

    # --- notifications (tickets.notify: each channel's own cursor over the outbox) ---------------

    def notify_events(self, after_seq: int, limit: int) -> builtins.list[dict[str, Any]]:
        """Return outbox events after a seq, oldest first, with their case's place and plates."""
        with self._read() as conn:
            return cursors.events_after(conn, after_seq, limit)

    def notify_cursor(self, channel: str, since_ms: int) -> dict[str, Any]:
        """Return a channel's cursor; a new channel's starts before the first event created since since_ms."""
        with self._read() as conn:
            row = cursors.cursor(conn, channel)
        if row is not None:
            return row
        with self._write() as conn:
            return cursors.cursor(conn, channel) or cursors.create_cursor(conn, channel, since_ms, self.clock())

    def notify_cursors(self) -> dict[str, dict[str, Any]]:
        """Return every channel's cursor row by channel name."""
        with self._read() as conn:
            return cursors.all_cursors(conn)

    def notify_advance(self, channel: str, seq: int) -> None:
        """Record that a channel has handled every event up to seq."""
        with self._write() as conn:
            cursors.advance(conn, channel, seq, self.clock())

    def notify_failed(self, channel: str, error: str, next_attempt_ms: int) -> None:
        """Record a channel's failed attempt and when to try again."""
        with self._write() as conn:
            cursors.failed(conn, channel, error, next_attempt_ms, self.clock())

    def notify_backlog(self, after_seq: int) -> int:
        """Return how many outbox events lie after a seq (a channel's backlog, skipped ones included)."""
        with self._read() as conn:
            return cursors.backlog(conn, after_seq)

    def notify_lease(self, channel: str) -> AbstractContextManager[bool]:
        """Hold a channel's delivery lease while delivering to it (one process at a time per channel)."""
        return self._lease(f"notify:{channel}")

    def close(self) -> None:
        """Close the database connections (and the on_change hook, if it has a close())."""
        close = getattr(self.on_change, "close", None)
        if close is not None:
            close()
        self.engine.dispose()


__all__ = ["Ticket", "TicketError", "TicketStore"]
