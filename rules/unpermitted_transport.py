"""A muck truck carrying without a valid permit (渣土车无有效准运证运输): none, or one revoked.

A permit revoked while the pipeline runs (``Permit.revoked_at``, set by ``DELETE /api/city/permits``)
stops covering the truck at that instant of event time: a trip after it is this violation, a trip
before it is judged under the permit as it stood (a replay agrees). A muck truck the registry lists
without any permit is judged the same. The caller says whether the truck is unpermitted at this fix
(and not empty); the episode is ``suspended_operation``'s "must not drive" machine::

    idle --moving, unpermitted--> pending --moving time >= min_duration_s--> open (OPEN)
    pending | open --a permit stands again (issued)--> idle (CLEAR if it was open)
    open --standing still for stop_clear_s--> idle (CLEAR): the trip ended
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.alerts import Alert, Severity
from rules.catalog import Params, RuleSpec
from rules.suspended_operation import SuspendedOperationState, Who, drive_while

RULE = "unpermitted_transport"
SEVERITY = Severity.MAJOR


class UnpermittedTransportParams(Params):
    """A muck truck carrying without a valid permit (渣土车无有效准运证运输)."""

    min_speed_kmh: float = Field(default=5.0, ge=0.0)
    min_duration_s: float = Field(default=60.0, ge=0.0)
    stop_clear_s: float = Field(default=600.0, gt=0.0, description="standing this long ends the episode")


@dataclass(frozen=True, slots=True)
class UnpermittedTransportState(SuspendedOperationState):
    """One truck's episode of carrying without a valid permit."""


def step(
    state: UnpermittedTransportState,
    pos: VehiclePosition,
    unpermitted: bool,
    params: UnpermittedTransportParams,
    *,
    subject: str,
    matter_code: str,
    permit_id: str | None = None,
    revoked_ms: int | None = None,
) -> tuple[UnpermittedTransportState, list[Alert]]:
    """Advance one truck's state by a position; ``unpermitted``: no permit stands for it now and it is not empty."""
    evidence = {"permit_id": permit_id, "revoked_ms": revoked_ms, "speed_kmh": pos.speed_kmh}
    who = Who(RULE, SEVERITY, subject, matter_code)
    new, alerts = drive_while(state, pos, unpermitted, params, who, evidence, lifted="permit issued")  # type: ignore[arg-type]
    return new, alerts  # type: ignore[return-value]


SPEC = RuleSpec(
    name=RULE,
    detects="渣土车无有效准运证运输: a muck truck carrying with no permit, or after its permit was revoked",
    reads=(VehiclePosition,),
    state=UnpermittedTransportState,
    matter="08109",
    severity="MAJOR",
    params=UnpermittedTransportParams,
    computed="state, `VehiclePosition`, `unpermitted` (no permit stands at the fix's time: none, or `revoked_at` passed; and not reported empty), params; `subject`, `matter_code`, `permit_id`, `revoked_ms`",
    follows="城市建筑垃圾管理规定 (建设部令第139号) art. 13-14: carriers need the city's approval (处置核准 / 准运证) for each transport; the city's 建筑垃圾管理办法 (check the city's edition)",
)
