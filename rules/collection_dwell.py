"""Collection service (日产日清), truck side: a garbage truck dwelling at a collection point it serves.

Runs per garbage truck. The caller passes the ids of the collection points within ``radius_m``
of the position that this truck serves (``CollectionPoint.served_by``; ``geometry.within_m`` or
``haversine_m`` against the points' coordinates). A point that stays in that list for
``min_dwell_s`` yields one ``Served`` fact per dwell; the fact is re-keyed by point id and fed
to ``collection_point.served``. A dwell is broken by one position away from the point, so the
radius should cover GPS noise at a stopped truck. Facts are not alerts: serving a point is
proof of service, the absence of one is judged on the point's own key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field

from devices.contracts import VehiclePosition
from rules.catalog import Params, RuleSpec
from rules.episodes import to_ms
from rules.state import FlatState

FACT_KIND = "served"


class CollectionParams(Params):
    """日产日清: a collection point served (dwell nearby) before its daily deadline."""

    radius_m: float = Field(default=40.0, gt=0.0)
    min_dwell_s: float = Field(default=30.0, ge=0.0)


@dataclass(frozen=True, slots=True)
class Served:
    """A point served by a truck: ``ts_ms`` is the arrival, ``dwell_s`` the time seen there."""

    point_id: str
    vehicle_id: str
    ts_ms: int
    dwell_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Served:
        """Rebuild a fact from the dict ``to_dict`` made."""
        return cls(**d)


@dataclass(frozen=True, slots=True)
class DwellState(FlatState):
    """One truck's dwells in progress: parallel tuples of point id, arrival and whether reported."""

    last_ts_ms: int | None = None
    point_ids: tuple[str, ...] = ()
    since_ms: tuple[int, ...] = ()
    reported: tuple[bool, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DwellState:
        """Rebuild the state from JSON, where tuples came back as lists."""
        return cls(d["last_ts_ms"], tuple(d["point_ids"]), tuple(d["since_ms"]), tuple(d["reported"]))


def step(
    state: DwellState,
    pos: VehiclePosition,
    points_near: Sequence[str],
    params: CollectionParams,
    *,
    vehicle_id: str,
) -> tuple[DwellState, list[Served]]:
    """Advance one truck's dwells by a position and the served points within the radius."""
    if state.last_ts_ms is not None and pos.ts_ms <= state.last_ts_ms:
        return state, []  # late or duplicate: event time only moves forward
    known = {p: (s, r) for p, s, r in zip(state.point_ids, state.since_ms, state.reported, strict=True)}
    ids, since, reported, facts = [], [], [], []
    for point in dict.fromkeys(points_near):  # de-duplicated, in order
        arrived, done = known.get(point, (pos.ts_ms, False))
        dwell_ms = pos.ts_ms - arrived
        if not done and dwell_ms >= to_ms(params.min_dwell_s):
            facts.append(Served(point, vehicle_id, arrived, dwell_ms / 1000))
            done = True
        ids.append(point)
        since.append(arrived)
        reported.append(done)
    return DwellState(pos.ts_ms, tuple(ids), tuple(since), tuple(reported)), facts


SPEC = RuleSpec(
    name="collection_dwell",
    detects="日产日清 proof of service: a garbage truck dwelling at a collection point it serves",
    reads=(VehiclePosition,),
    state=DwellState,
    params=CollectionParams,
    params_key="collection",
    computed="state per truck, `VehiclePosition`, ids of the points it serves within `radius_m`, params; `vehicle_id`; returns `(state, [Served])`",
    follows="A dwell at the point in the truck's JT/T 808-2019 track is the proof of service [S3]; radius and dwell are local practice",
)
