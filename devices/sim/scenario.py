"""Scenarios as data: how long to run, how often devices report, and which violations to plant.

A scenario is a YAML file validated with pydantic. Each injection plants one violation and the
``expected`` list names the ticket a correct pipeline must raise for it (exactly one each); the
two must agree. Problems are reported as ``ScenarioError`` naming the file and the field.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from devices.contracts import DeviceId
from devices.inventory import City, Permit
from devices.sim.geo import LocalProjection
from devices.sim.geo import Path as Polyline
from devices.sim.schedule import DEVIATION_RAMP_S, LEAD_S, max_window_s

RuleName = Literal["route_deviation", "uncovered_load", "overflow"]
NOISE_MARGIN_M = 20.0  # GPS noise never moves a fix this far
FILL_MARGIN = 0.03  # fill noise never moves a reading this far


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable, invalid or does not fit the city."""


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReportIntervals(_Data):
    """How often each kind of device reports, in seconds."""

    vehicle_s: float = Field(default=10.0, gt=0.0, le=300.0)
    facility_s: float = Field(default=60.0, gt=0.0, le=3600.0)
    site_s: float = Field(default=60.0, gt=0.0, le=3600.0)


class Deviate(_Data):
    """The truck leaves its permit corridor, driving ``offset_m`` beside its route, then returns."""

    type: Literal["deviate"]
    vehicle: DeviceId = Field(description="GPS terminal id of a muck truck with a permit")
    at_s: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)
    offset_m: float = Field(default=200.0, gt=0.0, le=2000.0)


class OpenCover(_Data):
    """The truck drives loaded with its cover open."""

    type: Literal["open_cover"]
    vehicle: DeviceId = Field(description="GPS terminal id of a muck truck with a permit")
    at_s: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)


class Overflow(_Data):
    """The facility's fill ramps up to ``to_ratio`` over ``ramp_s`` and stays there."""

    type: Literal["overflow"]
    facility: DeviceId = Field(description="device id of a facility fill sensor")
    at_s: float = Field(ge=0.0)
    to_ratio: float = Field(default=0.97, gt=0.0, le=1.5)
    ramp_s: float = Field(default=180.0, ge=0.0)


Injection = Annotated[Deviate | OpenCover | Overflow, Field(discriminator="type")]


class Expected(_Data):
    """A ticket the pipeline must raise: rule name and subject device id."""

    rule: RuleName
    subject: DeviceId


class Scenario(_Data):
    """A run of the simulated fleet: duration, report intervals, injections and expected tickets."""

    name: str = Field(min_length=1)
    description: str = ""
    duration_s: float = Field(gt=0.0, le=7 * 86_400.0)
    report_intervals: ReportIntervals = ReportIntervals()
    injections: list[Injection] = Field(default_factory=list)
    expected: list[Expected] = Field(default_factory=list)
    _source: str = PrivateAttr(default="<scenario>")

    @property
    def source(self) -> str:
        """Where the scenario came from (file path), for error messages."""
        return self._source

    def injections_of(
        self, kind: type[Deviate] | type[OpenCover] | type[Overflow], device_id: str
    ) -> list[Any]:
        """Return this scenario's injections of one kind aimed at one device, by start time."""
        found = [i for i in self.injections if isinstance(i, kind) and _target(i) == device_id]
        return sorted(found, key=lambda i: i.at_s)


def _target(injection: Deviate | OpenCover | Overflow) -> str:
    return injection.facility if isinstance(injection, Overflow) else injection.vehicle


def implied_expectations(injections: list[Deviate | OpenCover | Overflow]) -> list[Expected]:
    """Return the ticket each injection should produce."""
    rules: dict[str, RuleName] = {
        "deviate": "route_deviation",
        "open_cover": "uncovered_load",
        "overflow": "overflow",
    }
    return [Expected(rule=rules[i.type], subject=_target(i)) for i in injections]


def _window(i: Deviate | OpenCover | Overflow, intervals: ReportIntervals) -> tuple[float, float]:
    """Return the sim-time span an injection needs, ramps and a reading or two included."""
    if isinstance(i, Deviate):
        return i.at_s - DEVIATION_RAMP_S, i.at_s + i.duration_s + DEVIATION_RAMP_S
    if isinstance(i, OpenCover):
        return i.at_s, i.at_s + i.duration_s
    return i.at_s, i.at_s + i.ramp_s + 2 * intervals.facility_s


def _timing_problems(sc: Scenario) -> list[str]:
    problems = []
    for n, inj in enumerate(sc.injections):
        start, end = _window(inj, sc.report_intervals)
        if end > sc.duration_s:
            problems.append(
                f"injections.{n}.at_s: ends at {end:.0f} s, after the scenario ({sc.duration_s:.0f} s)"
            )
        if not isinstance(inj, Overflow) and start < LEAD_S:
            problems.append(f"injections.{n}.at_s: must leave the truck {LEAD_S:.0f} s to get under way")
    return problems


def _expected_problems(sc: Scenario) -> list[str]:
    implied = Counter((e.rule, e.subject) for e in implied_expectations(sc.injections))
    listed = Counter((e.rule, e.subject) for e in sc.expected)
    if implied == listed:
        return []
    missing, extra = sorted((implied - listed).elements()), sorted((listed - implied).elements())
    return [f"expected: does not match the injections (missing {missing}, not injected {extra})"]


def _raise(source: str, problems: list[str]) -> None:
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
        _raise(source, problems)
        raise  # unreachable: _raise always raises for a non-empty list
    scenario._source = source
    _raise(source, _timing_problems(scenario) + _expected_problems(scenario))
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


def _choices(ids: list[str]) -> str:
    return "choices: " + (", ".join(sorted(ids)) or "none")


def _muck_permit(city: City, terminal_id: str) -> Permit | None:
    vehicle = city.vehicle_by_terminal.get(terminal_id)
    return city.permit_for_terminal(terminal_id) if vehicle is not None and vehicle.kind == "muck" else None


def _vehicle_problems(n: int, inj: Deviate | OpenCover, sc: Scenario, city: City) -> list[str]:
    permit = _muck_permit(city, inj.vehicle)
    if permit is None:
        muck = [v.terminal_id for v in city.vehicles if _muck_permit(city, v.terminal_id)]
        return [
            f"injections.{n}.vehicle: {inj.vehicle!r} is not a muck truck with a permit ({_choices(muck)})"
        ]
    return _duration_problems(n, inj, sc, city, permit) + _offset_problems(n, inj, city, permit)


def _duration_problems(
    n: int, inj: Deviate | OpenCover, sc: Scenario, city: City, permit: Permit
) -> list[str]:
    rules, every = city.meta.rules, sc.report_intervals.vehicle_s
    least = (rules.route_deviation if isinstance(inj, Deviate) else rules.uncovered_load).min_duration_s
    problems = []
    if inj.duration_s < least + 2 * every:
        problems.append(
            f"injections.{n}.duration_s: {inj.duration_s:g} s is too short for a rule needing "
            f"{least:g} s with {every:g} s reports"
        )
    start, end = _window(inj, sc.report_intervals)
    route_m = Polyline.from_lonlat(permit.route, LocalProjection(*city.meta.center)).length
    if end - start > max_window_s(route_m):
        problems.append(
            f"injections.{n}.duration_s: route {permit.permit_id} is too short to host {end - start:.0f} s"
        )
    return problems


def _offset_problems(n: int, inj: Deviate | OpenCover, city: City, permit: Permit) -> list[str]:
    least = permit.corridor_m + city.meta.rules.route_deviation.hysteresis_m + NOISE_MARGIN_M
    if isinstance(inj, Deviate) and inj.offset_m < least:
        return [
            f"injections.{n}.offset_m: {inj.offset_m:g} m is not clearly outside the corridor (>= {least:g})"
        ]
    return []


def _facility_problems(n: int, inj: Overflow, city: City) -> list[str]:
    if inj.facility not in city.facility_by_device:
        known = _choices(list(city.facility_by_device))
        return [f"injections.{n}.facility: unknown {inj.facility!r} ({known})"]
    least = city.meta.rules.overflow.slight_ratio + FILL_MARGIN
    if inj.to_ratio < least:
        return [f"injections.{n}.to_ratio: {inj.to_ratio:g} is not clearly an overflow (>= {least:g})"]
    return []


def check_scenario(scenario: Scenario, city: City) -> None:
    """Raise ScenarioError unless every injection names a suitable device and can plant its violation."""
    problems: list[str] = []
    for n, inj in enumerate(scenario.injections):
        if isinstance(inj, Overflow):
            problems += _facility_problems(n, inj, city)
        else:
            problems += _vehicle_problems(n, inj, scenario, city)
    _raise(scenario.source, problems)
