"""``citywatch tickets``: list tickets and cases, run the ticket service (API + console), migrate, issue tokens."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import click

from citywatch.settings import Settings

if TYPE_CHECKING:
    from tickets.store import TicketStore


@click.group()
def tickets() -> None:
    """Alert tickets and the case lifecycle."""


@tickets.command("list")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Ticket database.")
@click.option("--active", is_flag=True, help="Only tickets whose violation is still going on.")
@click.pass_obj
def tickets_list(settings: Settings, db: Path | None, active: bool) -> None:
    """List tickets (alert episodes), oldest first."""
    from citywatch.views import print_tickets

    store = _store(settings, db)
    print_tickets(store.list(violation="active" if active else None))
    store.close()


@tickets.command("cases")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Ticket database.")
@click.option("--open-only", is_flag=True, help="Only cases still in the loop.")
@click.pass_obj
def tickets_cases(settings: Settings, db: Path | None, open_only: bool) -> None:
    """List cases, newest first, with stage, deadline and unit."""
    from rich.console import Console
    from rich.table import Table

    from citywatch.views import clock

    store = _store(settings, db)
    table = Table(title="cases")
    for col in ("case", "matter", "place", "stage", "deadline (UTC)", "督办", "unit", "evidence"):
        table.add_column(col)
    for c in store.cases(open_only=open_only):
        table.add_row(
            c["case_no"],
            c["matter_name"],
            c["place"] or c["subject"],
            c["stage_label"],
            ("OVERDUE " if c["overdue"] else "") + clock(c["deadline_ms"]),
            str(c["supervision_level"]),
            c["unit"] or "-",
            str(c["evidence_count"]),
        )
    Console().print(table)
    store.close()


def _with_db(settings: Settings, db: Path | None) -> Settings:
    """Return the settings with --db as the ticket database, if given; refuse a database that is not there."""
    if db is not None:
        settings = settings.model_copy(update={"ticket_db": db, "ticket_db_url": None})
    if settings.ticket_db_url is None and not settings.ticket_db.exists():
        raise click.ClickException(f"no ticket database at {settings.ticket_db} (run `make demo` first)")
    return settings


def _store(settings: Settings, db: Path | None) -> TicketStore:
    from citywatch.ticket_store import open_store

    return open_store(_with_db(settings, db))


@tickets.command("serve")
@click.option("--host", default=None, help="Default: CITYWATCH_TICKET_API_HOST.")
@click.option("--port", type=int, default=None, help="Default: CITYWATCH_TICKET_API_PORT.")
@click.option(
    "--live",
    type=click.Choice(["kafka", "none"]),
    default="kafka",
    show_default=True,
    help="Feed the console's live map from the stack's Kafka topics.",
)
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None, live: str) -> None:
    """Run the ticket service: HTTP API, dispatch console, 督办 / 核查 automation, webhook export."""
    from citywatch.ticket_service import run_service

    run_service(
        settings,
        host or settings.ticket_api_host,
        port if port is not None else settings.ticket_api_port,
        kafka_live=live == "kafka",
    )


@tickets.command("migrate")
@click.pass_obj
def migrate(settings: Settings) -> None:
    """Bring the ticket database schema up to date (the service also does this at start)."""
    from tickets.db import current_revision, database_url, make_engine
    from tickets.db import migrate as upgrade

    engine = make_engine(database_url(settings.ticket_db_target()))
    upgrade(engine)
    click.echo(f"{engine.url.render_as_string(hide_password=True)}: schema at revision {current_revision(engine)}")
    engine.dispose()


@tickets.command("token")
@click.option("--name", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["intake", "dispatcher", "unit", "inspector", "shift_lead", "screen", "company"]),
)
@click.option("--unit", default=None, help="The unit of a handling-unit user.")
@click.option("--node", default=None, help="The org node (tickets.yaml org) the user is scoped to; none: the city.")
@click.option("--company", default=None, help="The company of a company login (read-only, its own trucks' cases).")
def token(name: str, role: str, unit: str | None, node: str | None, company: str | None) -> None:
    """Issue a new API token: print it once, and the tickets.yaml entry that holds only its hash."""
    from pydantic import ValidationError

    from tickets.auth import token_hash
    from tickets.config import UserConfig

    if (role == "company") != bool(company):
        raise click.UsageError("--company goes with --role company, and only with it")
    value = secrets.token_urlsafe(24)
    entry = {
        "name": name,
        "role": role,
        **({"unit": unit} if unit else {}),
        **({"node": node} if node else {}),
        **({"company": company} if company else {}),
        "token_sha256": token_hash(value),
    }
    try:
        UserConfig.model_validate(entry)
    except ValidationError as exc:
        raise click.UsageError(exc.errors()[0]["msg"]) from exc
    click.echo(f"token (give it to {name}; it is not stored anywhere): {value}")
    click.echo(f"tickets.yaml users entry:\n  - {json.dumps(entry, ensure_ascii=False)}")


@tickets.command("report")
@click.option(
    "--month", "month_text", required=True, help="The month, YYYY-MM (e.g. 2026-11), in the city's time zone."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("var/report"),
    show_default=True,
    help="Directory for the PDF and CSV files.",
)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Ticket database.")
@click.option(
    "--font",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="A TrueType CJK font to embed (default: the first one the system has).",
)
@click.pass_obj
def report(settings: Settings, month_text: str, out: Path, db: Path | None, font: Path | None) -> None:
    """Monthly grading (月考评): unit rates, company 红黑榜, violation kinds, terminal online rates; PDF + CSV."""
    from citywatch.monthly import make_report, write_report
    from tickets.monthly import MonthError

    settings = _with_db(settings, db)
    try:
        made = make_report(settings, month_text)
        paths = write_report(made, out, font)
    except (MonthError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not made.online_known:
        click.echo("note: no InfluxDB configured (CITYWATCH_INFLUX_URL): the report has no online rates", err=True)
    for path in paths:
        click.echo(f"{path}  ({path.stat().st_size} bytes)")
