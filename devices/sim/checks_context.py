"""What the scenario checks share: the scenario, the city, a projection and (if pinned) the clock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from devices.inventory import City, Permit
from devices.sim.clock import SimClock, window_spans
from devices.sim.geo import LocalProjection
from devices.sim.injections import ReportIntervals
from rules.params import RuleParams, params_of

if TYPE_CHECKING:
    from devices.sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Ctx:
    """What the checks of one scenario share."""

    scenario: Scenario
    city: City
    proj: LocalProjection
    clock: SimClock | None  # None: the scenario does not pin its start

    @property
    def rules(self) -> RuleParams:
        """The city's rule parameters."""
        return params_of(self.city)

    @property
    def every(self) -> ReportIntervals:
        """The scenario's report intervals."""
        return self.scenario.report_intervals

    def spans(self, permit: Permit) -> list[tuple[float, float]]:
        """Return the permit's hours as spans of sim time (needs the clock)."""
        assert self.clock is not None
        return window_spans(permit.windows, self.clock, self.scenario.duration_s,
                            (permit.valid_from, permit.valid_to))  # fmt: skip


def choices(ids: list[str]) -> str:
    """Format the valid choices of a field."""
    return "choices: " + (", ".join(sorted(ids)) or "none")


def muck_permit(city: City, terminal_id: str) -> Permit | None:
    """Return the permit of a muck truck's terminal, if it is one."""
    vehicle = city.vehicle_by_terminal.get(terminal_id)
    return city.permit_for_terminal(terminal_id) if vehicle is not None and vehicle.kind == "muck" else None


def make_ctx(scenario: Scenario, city: City) -> Ctx:
    """Return the checks' context of a scenario on a city."""
    pinned = scenario.pinned_start_ms(city.meta.timezone)
    clock = None if pinned is None else SimClock(pinned, city.meta.timezone)
    return Ctx(scenario, city, LocalProjection(*city.meta.center), clock)
