"""The rule catalog: every rule declares itself next to its code, and the registry, defaults, docs and
the simulator's rule names derive from those declarations."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from citywatch.city import load_city
from citywatch.cli import main
from devices.catalog import STREAM_OF
from devices.contracts import Message
from devices.inventory import DEFAULT_MATTERS, CityConfigError
from devices.sim.scenario import Expected
from rules import catalog as cat
from rules import pipelines
from rules.alerts import Alert, Phase, Severity
from rules.catalog import WATERMARK, RuleSpec, catalog, state_types
from rules.context import At
from rules.engine import Engine
from rules.episodes import build_alert
from rules.params import DEFAULT_MATTER_CODES, RuleParams
from rules.state import FlatState

ROOT = Path(__file__).resolve().parents[2]
FACT_KINDS = {"served", "pm10_window"}


def test_every_rule_module_declares_a_spec() -> None:
    """A module with a ``RULE`` name and a ``step`` is a rule: it must be in the catalog."""
    declared = {spec.state.__module__ for spec in catalog()}
    rule_modules = set()
    for path in sorted((ROOT / "rules").glob("*.py")):
        names = {
            t.id
            for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, ast.Assign)
            for t in node.targets
            if isinstance(t, ast.Name)
        }
        if "RULE" in names:
            rule_modules.add(f"rules.{path.stem}")
    assert rule_modules - declared == set()


def test_specs_are_complete_and_consistent() -> None:
    for spec in catalog():
        assert spec.detects, spec.name
        assert spec.reads, spec.name
        for item in spec.reads:
            assert item in STREAM_OF or item in FACT_KINDS | {WATERMARK}, (spec.name, item)
        assert callable(getattr(spec.state, "from_dict", None)), spec.name
        assert spec.state.from_dict(spec.state().to_dict()) == spec.state(), spec.name
        if spec.matter is not None:
            assert spec.matter in DEFAULT_MATTERS, spec.name
        if spec.params is not None:
            spec.params()  # every field has a default


def test_the_registry_defaults_and_parameters_derive_from_the_catalog() -> None:
    names = {spec.name for spec in catalog()}
    assert names <= set(state_types())
    assert DEFAULT_MATTER_CODES == {  # the table devices/rule_params.py held before the specs declared it
        "route_deviation": "08101",
        "uncovered_load": "08011",
        "overflow": "06042",
        "out_of_window": "08102",
        "forbidden_zone": "08103",
        "speeding": "08104",
        "illegal_dumping": "08105",
        "trip_not_delivered": "08106",
        "dirty_truck": "08012",
        "silent_device": "03101",
        "gps_anomaly": "03102",
        "missed_collection": "06101",
        "fill_forecast": "06102",
        "odour": "06103",
        "pm10": "08004",
        "noise": "08001",
        "night_work": "08107",
        "camera": "06010",
        "suspended_operation": "08108",
        "unpermitted_transport": "08109",
    }
    params = RuleParams()
    for spec in catalog():
        if spec.section is not None:
            assert isinstance(getattr(params, spec.section), spec.params), spec.name
    assert RuleParams.model_fields.keys() - {"matter_codes", "camera_matter_codes"} == {
        s.section for s in catalog() if s.section
    } | {f"{s.section}_preset" for s in catalog() if s.presets}


def test_the_simulator_plants_exactly_the_rules_that_open_cases() -> None:
    for name in cat.case_rules():
        assert Expected(rule=name, subject="gps-m01").rule == name
    with pytest.raises(ValueError, match="Input should be 'camera', "):
        Expected(rule="collection_dwell", subject="gps-m01")  # a fact, not a case


def test_the_docs_table_is_the_catalogs() -> None:
    readme = (ROOT / "rules" / "README.md").read_text(encoding="utf-8")
    assert cat.with_table(readme) == readme, "rules/README.md is stale: run `citywatch rules table --write`"
    for spec in catalog():
        assert f"| `{spec.name}` (`{spec.module}`) |" in readme


def test_the_cli_prints_the_catalogs_table() -> None:
    printed = CliRunner().invoke(main, ["rules", "table"])
    assert printed.exit_code == 0, printed.output
    assert printed.output.strip() == cat.docs_table()


def test_no_rule_module_imports_the_parameters_built_from_them() -> None:
    """rules.params is built from the catalog at import: a rule importing it would import itself half-made."""
    for path in sorted((ROOT / "rules").rglob("*.py")):
        if path.name in {"params.py", "catalog.py"}:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # module level only: lazy imports may
            if isinstance(node, ast.ImportFrom) and node.module == "rules.params":
                pytest.fail(f"{path.relative_to(ROOT)} imports rules.params at module level")


def test_two_rules_sharing_a_section_share_its_model() -> None:
    by_section: dict[str, set[type]] = {}
    for spec in catalog():
        if spec.section is not None and spec.params is not None:
            by_section.setdefault(spec.section, set()).add(spec.params)
    assert {k for k, v in by_section.items() if len(v) > 1} == set()
    shared = [k for k in by_section if sum(s.section == k for s in catalog()) > 1]
    assert {"illegal_dumping", "noise", "pm10"} <= set(shared)


def test_a_rule_declared_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    twin = RuleSpec(name="speeding", detects="twin", reads=(WATERMARK,), state=dict)
    real = cat._modules

    def with_twin(package: str) -> list[object]:
        modules = real(package)
        return [*modules, type("Twin", (), {"SPEC": twin})] if package == "rules" else modules

    monkeypatch.setattr(cat, "_modules", with_twin)
    cat.catalog.cache_clear()
    try:
        with pytest.raises(ValueError, match="same rule name: \\['speeding'\\]"):
            cat.catalog()
    finally:
        cat.catalog.cache_clear()


NEW_RULE = '''
"""Idling (怠速): a known truck standing still for too long (a rule added as one module)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Severity
from rules.catalog import Params, RuleSpec
from rules.context import At
from rules.episodes import EpisodeState, advance, alert_at, to_ms

RULE = "idling"


class IdlingParams(Params):
    """How long a truck may stand."""

    max_idle_s: float = Field(default=300.0, gt=0.0)


@dataclass(frozen=True, slots=True)
class IdlingState(EpisodeState):
    """One truck's standing episode."""


def judge(state: IdlingState, pos: VehiclePosition, at: At) -> tuple[IdlingState, list[Alert]]:
    """Open when the truck has stood still for ``max_idle_s``."""
    if state.is_stale(pos.ts_ms):
        return state, []
    new, edge = advance(state, pos.ts_ms, pos.speed_kmh == 0.0, to_ms(at.params.max_idle_s))
    if edge is None:
        return new, []
    episode = state if new.episode_start_ms is None else new
    start = episode.episode_start_ms
    assert start is not None
    alert = alert_at(
        RULE, edge, pos, start_ms=start, subject=at.subject, severity=Severity.INFO,
        matter_code=at.matter_code, evidence={"zone_ids": list(at.place.zones) if at.place else []},
    )
    return new, [alert]


SPEC = RuleSpec(
    name=RULE,
    detects="怠速: a truck idling",
    reads=(VehiclePosition,),
    state=IdlingState,
    matter="08104",
    severity="INFO",
    params=IdlingParams,
    judge=judge,
    needs="vehicle",
)
'''

PROBE = """
from pathlib import Path
from devices.contracts import VehiclePosition
from devices.sim.scenario import Expected
from rules.catalog import docs_table, state_types
from rules.engine import Engine
from rules.params import DEFAULT_MATTER_CODES, RuleParams
from devices.inventory import load_city

p = RuleParams.model_validate({"idling": {"max_idle_s": 60}})
assert p.idling.max_idle_s == 60 and RuleParams().idling.max_idle_s == 300
assert state_types()["idling"].__name__ == "IdlingState"
assert DEFAULT_MATTER_CODES["idling"] == "08104"
assert "| `idling` (`rules/idling.py`) | 怠速: a truck idling |" in docs_table()
assert Expected(rule="idling", subject="gps-m01").rule == "idling"

engine, state, seen = Engine(load_city(Path("cities/demo"))), None, []
for device in ("gps-m01", "gps-unknown"):  # a known truck, and a terminal the inventory lacks
    state = None
    for i in range(40):  # 40 fixes 10 s apart, standing still
        pos = VehiclePosition(
            device_id=device, seq=i, ts_ms=1_780_000_000_000 + i * 10_000,
            lon=114.30, lat=30.59, speed_kmh=0.0, heading_deg=0.0,
        )
        out = engine.process(state, pos)
        state = out.state
        seen += [(device, a.rule, a.phase.value) for a in out.alerts if a.rule == "idling"]
print(seen)
"""


def test_adding_a_rule_is_adding_its_module(tmp_path: Path) -> None:
    """A copy of the rooms plus one new module: its state, parameters, matter code, docs row, scenario name,
    and the engine judging positions with it."""
    for room in ("devices", "jt808", "rules", "cities"):
        shutil.copytree(ROOT / room, tmp_path / room, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "rules" / "idling.py").write_text(NEW_RULE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[('gps-m01', 'idling', 'open')]"  # after 300 s standing; the unknown one: never


class ManholeLevel(Message):
    """A device kind no pipeline module knows: a manhole cover's water level."""

    kind: ClassVar[str] = "manhole"
    channel: ClassVar[str] = "telemetry"

    level_m: float


@dataclass(frozen=True, slots=True)
class HighWaterState(FlatState):
    """Whether the level is over the limit."""

    high: bool = False


def _high_water(state: HighWaterState, reading: ManholeLevel, at: At) -> tuple[HighWaterState, list[Alert]]:
    high = reading.level_m > 1.0
    if high == state.high:
        return state, []
    alert = build_alert(
        "high_water",
        Phase.OPEN if high else Phase.CLEAR,
        subject=at.subject,
        ts_ms=reading.ts_ms,
        start_ms=reading.ts_ms,
        lon=at.lon,
        lat=at.lat,
        severity=Severity.WARNING,
        matter_code=at.matter_code,
        evidence={"level_m": reading.level_m},
    )
    return HighWaterState(high=high), [alert]


def test_a_new_device_kind_runs_the_catalog_rules_that_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """No pipeline module wires the kind: its rules from the catalog still judge it, located where it stands."""
    spec = RuleSpec(
        name="high_water",
        detects="积水",
        reads=(ManholeLevel,),
        state=HighWaterState,
        matter="06010",
        judge=_high_water,
    )
    real = cat._modules
    monkeypatch.setattr(
        cat, "_modules", lambda p: [*real(p), type("M", (), {"SPEC": spec})] if p == "rules" else real(p)
    )
    caches = (cat.catalog, cat.judged, cat.ticking, cat.state_types, cat.sections)
    for cached in caches:
        cached.cache_clear()
    try:
        city = load_city(ROOT / "cities" / "demo")
        codes = {**city.meta.rules.get("matter_codes", {}), "high_water": "06010"}  # defaults were built at import
        meta = city.meta.model_copy(update={"rules": {**city.meta.rules, "matter_codes": codes}})
        index = Engine(city.model_copy(update={"meta": meta})).index
        states: dict[str, object] = {}
        reading = {"device_id": "fill-s01", "seq": 1, "ts_ms": 1_790_000_000_000}
        first = pipelines.run_event(index, states, ManholeLevel(level_m=1.4, **reading))
        again = pipelines.run_event(index, states, ManholeLevel(level_m=0.2, **{**reading, "seq": 2}))
    finally:
        for cached in caches:
            cached.cache_clear()
    station = index.facilities["fill-s01"]
    assert [(a.rule, a.phase) for a in first.alerts + again.alerts] == [
        ("high_water", Phase.OPEN),
        ("high_water", Phase.CLEAR),
    ]
    assert (first.alerts[0].lon, first.alerts[0].lat) == (station.lon, station.lat)  # where the device stands
    assert first.alerts[0].matter_code == "06010"


def test_a_bad_rules_section_is_refused_on_load_naming_file_and_field(tmp_path: Path) -> None:
    city_dir = tmp_path / "city"
    shutil.copytree(ROOT / "cities" / "demo", city_dir)
    path = city_dir / "city.yaml"
    text = path.read_text(encoding="utf-8")
    assert "  matter_codes: {}\n" in text
    path.write_text(
        text.replace("  matter_codes: {}\n", '  matter_codes: {speeding: "99999"}\n  idling: {max_idle_s: 3}\n'),
        encoding="utf-8",
    )
    with pytest.raises(CityConfigError) as caught:
        load_city(city_dir)
    assert f"{city_dir / 'city.yaml'}: rules.idling: Extra inputs are not permitted" in str(caught.value)
    path.write_text(text.replace("  matter_codes: {}\n", '  matter_codes: {speeding: "99999"}\n'), encoding="utf-8")
    with pytest.raises(CityConfigError) as caught:
        load_city(city_dir)
    assert "rules.matter_codes.speeding: matter code '99999' is not in matters" in str(caught.value)
