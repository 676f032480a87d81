"""``citywatch replay``: back-test recorded events against a city and its rule parameters."""

from __future__ import annotations

from pathlib import Path

import click

from citywatch.city import load_city
from citywatch.settings import Settings
from devices.inventory import CityConfigError


@click.command("replay")
@click.argument("archive", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kafka", "from_kafka", is_flag=True, help="Read the stack's source topics (CITYWATCH_TOPIC_PREFIX).")
@click.option(
    "--city",
    "city_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The city and rule parameters to judge with (default: CITYWATCH_CITY_DIR).",
)
@click.option(
    "--against",
    type=str,
    default=None,
    help="Ticket database of the live run (SQLite path or URL; default: the configured one); 'none': no diff.",
)
@click.option("--show", type=int, default=20, show_default=True, help="Differences listed per side.")
@click.pass_obj
def replay_command(
    settings: Settings,
    archive: tuple[Path, ...],
    from_kafka: bool,
    city_dir: Path | None,
    against: str | None,
    show: int,
) -> None:
    """Run ARCHIVE files (ingest's events-*.jsonl) or --kafka through the engine; print the cases it would
    open, how fast, and how they differ from the cases raised live."""
    from citywatch.replay import diff, kafka_events, replay  # Kafka client and engine: only when asked
    from ingest.archive import read_archive
    from tickets.store import TicketStore

    if bool(archive) == from_kafka:
        raise click.UsageError("give archive files or --kafka (one of them)")
    try:
        city = load_city(city_dir or settings.city_dir)
    except CityConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        events = kafka_events(settings.kafka_bootstrap, settings.topic_prefix) if from_kafka else read_archive(archive)
        result = replay(city, events)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    cases = result.cases()
    click.echo(
        f"replayed {result.events} events in {result.seconds:.1f} s ({result.rate:,.0f} events/s): {len(cases)} cases"
    )
    if against == "none":
        return
    store = TicketStore(against or settings.ticket_db_target())
    try:
        live = {(t.rule, t.subject, t.opened_ms) for t in store.list()}
    finally:
        store.close()
    only_replay, only_live = diff(cases, live)
    click.echo(
        f"live: {len(live)} cases; the same: {len(cases & live)}; only replayed: {len(only_replay)}; only live: {len(only_live)}"
    )
    for title, rows in (("only in the replay", only_replay), ("only live", only_live)):
        for rule, subject, opened_ms in rows[:show]:
            click.echo(f"  {title}: {rule} {subject} opened at {opened_ms}")
