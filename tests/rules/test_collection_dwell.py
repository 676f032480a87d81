"""Collection service, truck side: golden timelines of (t_s, points within the radius) rows."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import collection_dwell
from rules.collection_dwell import CollectionParams, DwellState, Served
from rules.geometry import within_m
from tests.rules.timelines import (
    DEVICE,
    LAT,
    LON,
    from_gaps,
    json_round_trip,
    ms,
    position,
)

PARAMS = CollectionParams(radius_m=40, min_dwell_s=30)
TRUCK = "GT-7"

Row = tuple[float, list[str]]  # (t_s, ids of the served points within radius_m)


def dwells(
    rows: list[Row], *, state: DwellState | None = None, restart: bool = False
) -> tuple[DwellState, list[Served]]:
    """Run the rule over a timeline of (t_s, points near)."""
    state = state or DwellState()
    facts: list[Served] = []
    for t, near in rows:
        if restart:
            state = json_round_trip(state)
        state, out = collection_dwell.step(state, position(t, speed_kmh=0), near, PARAMS, vehicle_id=TRUCK)
        facts += out
    return state, facts


def test_a_dwell_at_a_point_is_one_service_fact() -> None:
    rows: list[Row] = [
        (0, []),
        (10, ["CP-1"]),  # arrived
        (30, ["CP-1"]),
        (40, ["CP-1"]),  # 30 s -> Served
        (100, ["CP-1"]),  # still there: nothing more
        (110, []),
        (200, ["CP-1"]),  # a second visit ...
        (230, ["CP-1"]),  # ... is a second fact
    ]
    _, facts = dwells(rows)
    assert facts == [Served("CP-1", TRUCK, ms(10), 30.0), Served("CP-1", TRUCK, ms(200), 30.0)]


def test_exact_threshold_and_a_broken_dwell() -> None:
    assert dwells([(0, ["CP-1"]), (29.999, ["CP-1"])])[1] == []
    assert len(dwells([(0, ["CP-1"]), (30, ["CP-1"])])[1]) == 1
    assert dwells([(0, ["CP-1"]), (20, []), (25, ["CP-1"]), (50, ["CP-1"])])[1] == []


def test_neighbouring_points_are_each_served() -> None:
    rows: list[Row] = [
        (0, ["CP-1"]),
        (20, ["CP-1", "CP-2"]),
        (30, ["CP-2", "CP-1"]),
        (50, ["CP-2", "CP-2"]),
    ]
    _, facts = dwells(rows)
    assert facts == [Served("CP-1", TRUCK, ms(0), 30.0), Served("CP-2", TRUCK, ms(20), 30.0)]


def test_late_and_duplicate_positions_are_ignored() -> None:
    state, _ = dwells([(0, ["CP-1"]), (20, ["CP-1"])])
    again, facts = dwells([(10, []), (20, ["CP-2"])], state=state)
    assert again == state and facts == []


def test_state_and_facts_round_trip_through_json() -> None:
    rows: list[Row] = [
        (0, ["CP-1", "CP-2"]),
        (30, ["CP-1", "CP-2"]),
        (40, ["CP-2"]),
        (60, ["CP-2"]),
    ]
    mid, facts = dwells(rows[:2])
    assert mid.point_ids == ("CP-1", "CP-2") and mid.reported == (True, True)
    assert json_round_trip(mid) == mid
    assert dwells(rows[2:], state=json_round_trip(mid))[1] == dwells(rows)[1][2:]
    assert [Served.from_dict(json.loads(json.dumps(f.to_dict()))) for f in facts] == facts


def test_with_within_m_as_the_caller() -> None:
    points = {"CP-1": (LON, LAT), "CP-2": (LON + 0.001, LAT)}  # CP-2 about 96 m east

    def near(pos: VehiclePosition) -> list[str]:
        return [p for p, c in points.items() if within_m(pos.lon, pos.lat, c, PARAMS.radius_m)]

    state, facts = DwellState(), []
    for t in (0, 15, 30):
        state, out = collection_dwell.step(state, position(t), near(position(t)), PARAMS, vehicle_id=DEVICE)
        facts += out
    assert [f.point_id for f in facts] == ["CP-1"]


rows_st = st.lists(
    st.tuples(st.integers(1, 40), st.lists(st.sampled_from(["CP-1", "CP-2", "CP-3"]), max_size=3)),
    min_size=1,
    max_size=60,
).map(from_gaps)


@given(rows_st)
def test_every_fact_is_a_dwell_long_enough_reported_once(rows: list[Row]) -> None:
    _, facts = dwells(rows)
    assert len({(f.point_id, f.ts_ms) for f in facts}) == len(facts)
    times = {ms(t): near for t, near in rows}
    for f in facts:
        assert f.dwell_s >= PARAMS.min_dwell_s and f.vehicle_id == TRUCK
        assert f.point_id in times[f.ts_ms]


@given(rows_st)
def test_reloading_state_before_every_position_changes_nothing(rows: list[Row]) -> None:
    assert dwells(rows, restart=True) == dwells(rows)
