"""``citywatch city scale``: a valid city of any size and a scenario whose plants are exactly what the rules raise."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from citywatch.city import load_city
from citywatch.cli import main
from devices.sim.generator import generate
from devices.sim.scale import write_scaled_city
from devices.sim.scenario import load_scenario
from rules.engine import Engine
from streams.embedded import EmbeddedRunner
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cities" / "demo"
START_MS = 1_795_000_000_000


def test_a_scaled_city_has_the_trucks_asked_for_with_unique_ids_and_loads(tmp_path: Path) -> None:
    made = write_scaled_city(DEMO, tmp_path / "s", 1_234, duration_s=900)
    city = load_city(made.city_dir)
    trucks = [v for v in city.vehicles if v.kind in ("muck", "garbage")]
    assert len(trucks) == made.muck + made.garbage == 1_234
    for field in ("vehicle_id", "plate", "terminal_id", "jt808_phone"):
        assert len({getattr(v, field) for v in trucks}) == len(trucks), field
    assert {v.vehicle_id for v in trucks if v.kind == "muck"} == {p.vehicle_id for p in city.permits}
    served = {vid for p in city.collection_points for vid in p.served_by}
    assert served == {v.vehicle_id for v in trucks if v.kind == "garbage"}  # every round still serves its points
    assert len(city.facilities) == made.facilities > len(load_city(DEMO).facilities)
    assert len({f.device_id for f in city.facilities}) == made.facilities
    scenario = load_scenario(made.scenario, city)  # checked against the city
    rules = Counter(e.rule for e in scenario.expected)
    assert rules["route_deviation"] == rules["uncovered_load"] == made.muck // 100 == 6  # per 100 muck trucks
    assert rules["overflow"] >= 1 and rules.total() == made.planted


def test_the_same_seed_writes_the_same_files_and_another_seed_plants_elsewhere(tmp_path: Path) -> None:
    files = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        made = write_scaled_city(DEMO, tmp_path / name, 500, seed=seed)
        files[name] = {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*.yaml")}
        assert made.planted > 0
    assert files["a"] == files["b"]
    assert files["a"][Path("scenario.yaml")] != files["c"][Path("scenario.yaml")]


def test_the_scaled_scenario_raises_exactly_its_planted_violations(tmp_path: Path) -> None:
    made = write_scaled_city(DEMO, tmp_path / "s", 240, duration_s=900)
    city = load_city(made.city_dir)
    scenario = load_scenario(made.scenario, city)
    runner = EmbeddedRunner(Engine(city), TicketStore(tmp_path / "t.sqlite"))
    batch = []
    for message in generate(city, scenario, 7, START_MS):
        batch.append(message)
        if len(batch) == 2_000:
            runner.process(batch)
            batch = []
    runner.process(batch)
    raised = sorted((t.rule, t.subject) for t in runner.store.list())
    runner.store.close()
    assert raised == sorted((e.rule, e.subject) for e in scenario.expected)


def test_the_cli_writes_a_city_and_refuses_an_existing_directory_or_a_short_run(tmp_path: Path) -> None:
    run = CliRunner()
    args = ["city", "scale", str(DEMO), "--trucks", "50", "--out", str(tmp_path / "s")]
    ok = run.invoke(main, args)
    assert ok.exit_code == 0, ok.output
    assert "25 muck and 25 garbage trucks" in ok.output and (tmp_path / "s" / "scenario.yaml").exists()
    again = run.invoke(main, args)
    assert again.exit_code == 1 and "exists: choose a new directory" in again.output
    short = run.invoke(main, [*args[:-1], str(tmp_path / "t"), "--duration-s", "60"])
    assert short.exit_code == 2 and "--duration-s" in short.output


@pytest.mark.parametrize("trucks", [0, -5])
def test_no_trucks_is_refused(tmp_path: Path, trucks: int) -> None:
    with pytest.raises(ValueError, match="at least one truck"):
        write_scaled_city(DEMO, tmp_path / "s", trucks)


def test_the_shortest_run_the_error_names_can_be_planted(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"at least (\d+)") as caught:
        write_scaled_city(DEMO, tmp_path / "short", 200, duration_s=300)
    shortest = int(caught.value.args[0].split("at least ")[1].rstrip(")"))
    assert write_scaled_city(DEMO, tmp_path / "s", 200, duration_s=shortest).planted > 0
