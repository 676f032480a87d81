"""Ingest's event archive and ``citywatch replay``: the recorded events back through the engine, compared with live."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from citywatch.cli import main
from devices.catalog import STREAM_OF, Accepted, DeadLetter
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from ingest.archive import ArchiveSink, read_archive
from rules.engine import Engine
from streams.embedded import EmbeddedRunner
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cities" / "demo"
START_MS = 1_795_000_000_000


class Forwarded:
    """The sink behind the archive: keeps what it was handed."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, int]] = []

    async def send(self, accepted: Sequence[Accepted], rejected: Sequence[DeadLetter]) -> None:
        self.batches.append((len(accepted), len(rejected)))


def demo_events() -> list:
    city = load_city(DEMO)
    return list(generate(city, load_scenario(REPO / "scenarios" / "demo.yaml", city), 7, START_MS))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """The demo scenario archived by an ArchiveSink in batches, and the live run's ticket database."""
    tmp = tmp_path_factory.mktemp("recorded")
    events = demo_events()
    forwarded = Forwarded()
    sink = ArchiveSink(tmp / "archive", forwarded)
    for i in range(0, len(events), 500):
        batch = [Accepted(e, STREAM_OF[type(e)]) for e in events[i : i + 500]]
        asyncio.run(sink.send(batch, []))
    sink.close()
    assert sum(a for a, _ in forwarded.batches) == len(events)  # everything went on after it was archived
    (archive,) = (tmp / "archive").glob("events-*.jsonl")
    live = EmbeddedRunner(Engine(load_city(DEMO)), TicketStore(tmp / "live.sqlite"))
    for i in range(0, len(events), 500):
        live.process(events[i : i + 500])
    live.store.close()
    return archive, tmp / "live.sqlite", events


def test_the_archive_holds_every_accepted_event_in_order(recorded: tuple[Path, Path, list]) -> None:
    archive, _, events = recorded
    assert list(read_archive([archive])) == events


def test_a_line_that_is_not_an_archived_event_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "events.jsonl"
    bad.write_text('{"stream": "positions", "event": {"device_id": "gps-m01"}}\n')
    with pytest.raises(ValueError, match=r"events.jsonl:1: not an archived event"):
        list(read_archive([bad]))
    bad.write_text('{"stream": "weather", "event": {}}\n')
    with pytest.raises(ValueError, match="unknown stream 'weather'"):
        list(read_archive([bad]))


def test_replay_with_the_same_city_opens_the_cases_opened_live(recorded: tuple[Path, Path, list]) -> None:
    archive, live_db, events = recorded
    result = CliRunner().invoke(main, ["replay", str(archive), "--city", str(DEMO), "--against", str(live_db)])
    assert result.exit_code == 0, result.output
    assert f"replayed {len(events)} events" in result.output and "9 cases" in result.output
    assert "live: 9 cases; the same: 9; only replayed: 0; only live: 0" in result.output


def test_replay_with_other_rule_parameters_shows_what_they_would_change(
    recorded: tuple[Path, Path, list], tmp_path: Path
) -> None:
    archive, live_db, _ = recorded
    city = tmp_path / "city"
    shutil.copytree(DEMO, city)
    meta = yaml.safe_load((city / "city.yaml").read_text(encoding="utf-8"))
    meta["rules"]["route_deviation"]["min_duration_s"] = 600  # longer than any planted deviation
    (city / "city.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), encoding="utf-8")
    result = CliRunner().invoke(main, ["replay", str(archive), "--city", str(city), "--against", str(live_db)])
    assert result.exit_code == 0, result.output
    assert "only replayed: 0; only live: 3" in result.output
    assert result.output.count("only live: route_deviation") == 3


def test_replay_needs_one_source(recorded: tuple[Path, Path, list]) -> None:
    archive, _, _ = recorded
    both = CliRunner().invoke(main, ["replay", str(archive), "--kafka"])
    neither = CliRunner().invoke(main, ["replay"])
    assert both.exit_code == neither.exit_code == 2 and "archive files or --kafka" in both.output
