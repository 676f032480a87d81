"""Muck-truck plans: continuous in time and place, inside the permit's hours, each window where it must be."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devices.sim.motion import (
    TRAFFIC,
    Activity,
    Leg,
    Phase,
    drive_leg,
    insert_stand,
    speed_up,
    time_at_arc,
    without_stops,
)
from devices.sim.schedule import Episode, ScheduleError, TrackArcs, Window, muck_plan

ARCS = TrackArcs(wash_m=46.0, length_m=4000.0)
HORIZON = 7200.0


def plan(seed: int, windows: list[Window], hours: list[tuple[float, float]] | None = None) -> list[Phase]:
    return muck_plan(np.random.default_rng(seed), ARCS, HORIZON, windows, hours)


def at(phases: list[Phase], t: float) -> Phase:
    return next(p for p in phases if p.start_s <= t < p.end_s)


def assert_continuous(phases: list[Phase]) -> None:
    for a, b in itertools.pairwise(phases):
        assert b.start_s == pytest.approx(a.end_s) and b.s0 == pytest.approx(a.s1, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_plans_are_continuous_and_wash_before_every_departure(seed: int) -> None:
    phases = plan(seed, [])
    assert_continuous(phases)
    assert phases[-1].end_s > HORIZON
    for i, p in enumerate(phases):
        if p.activity is Activity.DRIVE and p.leg is Leg.LOADED and p.s0 == pytest.approx(ARCS.wash_m):
            assert phases[i - 1].activity is Activity.WASH and phases[i - 1].duration_s >= 75.0


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_trucks_wait_for_their_hours_and_finish_inside_them(seed: int) -> None:
    hours = [(2000.0, 6000.0)]
    phases = plan(seed, [], hours)
    assert_continuous(phases)
    moving = [p for p in phases if p.activity is Activity.DRIVE]
    assert moving and all(p.start_s >= 2000.0 and p.end_s <= 6000.0 for p in moving)
    assert at(phases, 1000.0).activity is Activity.PARK and at(phases, 7000.0).activity is Activity.PARK


@pytest.mark.parametrize("seed", range(8))
def test_windows_land_on_a_non_stop_loaded_leg(seed: int) -> None:
    fast = Window(900.0, 960.0, "fast", Episode.FAST, speed_kmh=55.0)
    stop = Window(3000.0, 3700.0, "dwell", Episode.STOP, anchor_m=2000.0)
    phases = plan(seed, [fast, stop])
    assert_continuous(phases)
    assert at(phases, 930.0).speed_kmh == pytest.approx(55.0) and at(phases, 930.0).leg is Leg.LOADED
    standing = at(phases, 3300.0)
    assert (standing.activity, standing.start_s, standing.end_s) == (Activity.STOP, 3000.0, 3700.0)
    assert standing.s0 == pytest.approx(2000.0)


@pytest.mark.parametrize("seed", range(8))
def test_a_dumped_or_shed_load_is_carried_no_further(seed: int) -> None:
    dump = plan(seed, [Window(1500.0, 1590.0, "lift", Episode.DUMP, anchor_m=2000.0)])
    after = [p for p in dump if p.start_s >= 1590.0 and p.activity is not Activity.LOAD][:3]
    assert at(dump, 1550.0).activity is Activity.DUMP and all(p.leg is Leg.EMPTY for p in after)
    assert not any(p.activity is Activity.UNLOAD and 1590.0 <= p.start_s < 2500.0 for p in dump)
    shed = plan(seed, [Window(1500.0, 1740.0, "shed", Episode.SHED, anchor_m=2000.0)])
    assert at(shed, 1600.0).activity is Activity.SHED and shed[-1].activity is Activity.PARK
    assert shed[-1].s0 == pytest.approx(2400.0) and shed[-1].end_s > HORIZON


@pytest.mark.parametrize("seed", range(8))
def test_an_away_window_keeps_the_truck_out_of_its_yard(seed: int) -> None:
    phases = plan(seed, [Window(1200.0, 1800.0, "silent", Episode.AWAY)])
    for t in np.arange(1200.0, 1800.0, 10.0):
        assert at(phases, t).s_at(t) > ARCS.wash_m + 20.0


def test_impossible_windows_are_refused_with_their_label() -> None:
    with pytest.raises(ScheduleError, match="second: the truck is not back"):
        plan(1, [Window(900.0, 960.0, "first"), Window(1300.0, 1360.0, "second", Episode.FAST, speed_kmh=50.0)])
    with pytest.raises(ScheduleError, match="late: the trip for it would run outside the permit's hours"):
        plan(1, [Window(900.0, 960.0, "late")], hours=[(2000.0, 6000.0)])
    with pytest.raises(ScheduleError, match="long: the route is too short"):
        plan(1, [Window(900.0, 2000.0, "long")])
    assert plan(1, [Window(900.0, 960.0, "ooh", any_hours=True)], hours=[(2000.0, 6000.0)])


def test_phase_surgery_keeps_time_and_place() -> None:
    leg = without_stops(drive_leg(np.random.default_rng(3), 0.0, 3000.0, Leg.LOADED, TRAFFIC))
    t = time_at_arc(leg, 1500.0)
    stood = insert_stand(leg, t, 60.0, Activity.STOP, Leg.LOADED)
    assert_continuous(stood)
    assert stood[-1].end_s == pytest.approx(leg[-1].end_s + 60.0)
    fast = speed_up(leg, 20.0, 80.0, 55.0 / 3.6)
    assert_continuous(fast)
    assert fast[-1].s1 == pytest.approx(3000.0) and fast[-1].end_s < leg[-1].end_s
    with pytest.raises(ValueError, match="not on the leg"):
        time_at_arc(leg, 3500.0)
