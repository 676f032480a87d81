"""Scenarios as data: how long to run, from when, how often devices report, which violations to plant.

A scenario is a YAML file validated with pydantic. Each injection plants a violation and the
``expected`` list names the alert a correct pipeline must raise for it (exactly one each); the
two must agree. Scenarios whose injections depend on local time (permit hours, night, deadlines)
pin their start with ``start_local`` (local wall time of the city). Problems are reported as
``ScenarioError`` naming the file and the field.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator

from devices.contracts import DeviceId
from devices.inventory import City
from devices.schedules import zone
from devices.sim.checks_context import make_ctx
from devices.sim.checks_fixed import fixed_problems
from devices.sim.checks_trucks import truck_problems
from devices.sim.injections import (
    TRUCK_TYPES,
    AnyInjection,
    Deviate,
    Injection,
    OpenCover,
    Overflow,
    ReportIntervals,
    RuleName,
    _Data,
)
from devices.sim.schedule import LEAD_S

__all__ = [
    "Deviate",
    "Expected",
    "OpenCover",
    "Overflow",
    "ReportIntervals",
    "Scenario",
    "ScenarioError",
    "check_scenario",
    "implied_expectations",
    "load_scenario",
    "parse_scenario",
]


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable, invalid or does not fit the city."""


class Expected(_Data):
    """An alert the pipeline must raise: rule name and subject (device id, or collection point id)."""

    rule: RuleName
    subject: DeviceId


class Scenario(_Data):
    """A run of the simulated fleet: duration, start, report intervals, injections and expected alerts."""

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0.0, le=7 * 86_400.0)
    start_local: datetime | None = Field(default=None, description="pinned start, local time of the city")
    report_intervals: ReportIntervals = ReportIntervals()
    injections: list[Injection] = Field(default_factory=list)
    expected: list[Expected] = Field(default_factory=list)
    _source: str = PrivateAttr(default="<scenario>")

    @field_validator("start_local")
    @classmethod
    def _local(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("give the local wall time without an offset (the city's time zone applies)")
        return value

    @property
    def source(self) -> str:
        """Where the scenario came from (file path), for error messages."""
        return self._source

    def injections_of(self, kind: type | tuple[type, ...], device_id: str) -> list[Any]:
        """Return this scenario's injections of some kind(s) aimed at one device, by start time."""
        found = [i for i in self.injections if isinstance(i, kind) and i.device == device_id]
        return sorted(found, key=lambda i: i.at_s)

    def pinned_start_ms(self, timezone: str) -> int | None:
        """Return the pinned start as epoch ms in the city's time zone, or None when not pinned."""
        if self.start_local is None:
            return None
        return round(self.start_local.replace(tzinfo=zone(timezone)).timestamp() * 1000)


def implied_expectations(injections: list[AnyInjection]) -> list[Expected]:
    """Return the alert each injection should produce."""
    return [Expected(rule=rule, subject=subject) for i in injections for rule, subject in i.planted()]


def _timing_problems(sc: Scenario) -> list[str]:
    problems = []
    for n, inj in enumerate(sc.injections):
        start, end = inj.span(sc.report_intervals)
        if end > sc.duration_s:
            problems.append(f"injections.{n}.at_s: ends at {end:.0f} s, after the scenario ({sc.duration_s:.0f} s)")
        if inj.TRUCK and start < LEAD_S:
            problems.append(f"injections.{n}.at_s: must leave the truck {LEAD_S:.0f} s to get under way")
    return problems


def _expected_problems(sc: Scenario) -> list[str]:
    implied = Counter((e.rule, e.subject) for e in implied_expectations(sc.injections))
    listed = Counter((e.rule, e.subject) for e in sc.expected)
    if implied == listed:
        return []
    missing, extra = sorted((implied - listed).elements()), sorted((listed - implied).elements())
    return [f"expected: does not match the injections (missing {missing}, not injected {extra})"]


def raise_problems(source: str, problems: list[str]) -> None:
    """Raise a ScenarioError listing the problems, if there are any."""
    if problems:
        lines = [f"{source}: {len(problems)} problem(s)", *(f"  {p}" for p in problems)]
        raise ScenarioError("\n".join(lines))


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate scenario data (as loaded from YAML); raise ScenarioError naming source and field."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        ]
        raise_problems(source, problems)
        raise  # unreachable: raise_problems always raises for a non-empty list
    scenario._source = source
    raise_problems(source, _timing_problems(scenario) + _expected_problems(scenario))
    return scenario


def load_scenario(path: str | Path, city: City | None = None) -> Scenario:
    """Load and validate a scenario file (and check it against the city if given)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ScenarioError(f"{path}: file is missing") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    scenario = parse_scenario(data, str(path))
    if city is not None:
        check_scenario(scenario, city)
    return scenario


def check_scenario(scenario: Scenario, city: City) -> None:
    """Raise ScenarioError unless every injection names a suitable device and can plant its violation."""
    ctx = make_ctx(scenario, city)
    problems: list[str] = []
    for n, inj in enumerate(scenario.injections):
        problems += truck_problems(n, inj, ctx) if isinstance(inj, TRUCK_TYPES) else fixed_problems(n, inj, ctx)
    raise_problems(scenario.source, problems)
