"""Late positions (blind-area uploads, JT/T 808 0x0704 补传): judged in event time, never against newer fixes.

A terminal in a blind area records its fixes and uploads them once back online, after (or among)
its real-time fixes; the gateway gives them a ``seq`` that grows in arrival order, so the engine
takes them as new, but their ``ts_ms`` is older than the terminal's newest. The live rules never
see them: the vehicle pipeline judges them in their gap, on copies of the rules' states as they
were when the gap began (``rules/pipelines/late.py``).

Timelines: the test city's truck gps-m1 drives east along its permitted route (lat 30.59) at
``ALONG`` degrees of longitude a second; times are seconds after ``T0`` (22:13:20 local). The
standard blind area: real-time fixes every 10 s from 0 to 120, none until 720 (the blind area),
real-time again from 720; the blind batch (130..710) arrives after the fix at 800.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devices.contracts import VehiclePosition
from devices.inventory import City, load_city
from rules import (
    collection_dwell,
    dirty_truck,
    forbidden_zone,
    gps_anomaly,
    illegal_dumping,
    out_of_window,
    route_deviation,
    silence,
    speeding,
    suspended_operation,
    trip_delivery,
    uncovered_load,
)
from rules.alerts import Alert, Phase, Severity, alert_id, late_alert_id
from rules.engine import DeviceState, Engine
from rules.facts import Fact
from rules.forbidden_zone import ForbiddenZoneParams
from rules.gps_anomaly import GpsAnomalyParams
from rules.illegal_dumping import IllegalDumpingParams
from rules.out_of_window import OutOfWindowParams
from rules.params import params_of
from rules.pipelines.late import LateState
from rules.route_deviation import RouteDeviationParams
from rules.speeding import SpeedingParams
from rules.suspended_operation import SuspendedOperationParams
from rules.uncovered_load import UncoveredLoadParams
from tests.rules import timelines

CITY_DIR = Path(__file__).resolve().parent.parent / "data" / "city_min"
T0 = 1_790_000_000_000  # 2026-09-21 22:13:20 Asia/Shanghai
DEVICE = "gps-m1"
LAT, OFF_ROUTE_LAT = 30.59, 30.5920  # on the permit's route; ~220 m north of it
WEST, ALONG = 114.300, 2.5e-5  # lon at t = 0; degrees east a second (~2.4 m/s)
ZONE = [[114.3074, 30.589], [114.3096, 30.589], [114.3096, 30.591], [114.3074, 30.591]]  # t = 300..380 in it
BEFORE, AFTER, BLIND = range(0, 121, 10), range(720, 801, 10), range(130, 711, 10)
YARD_LAT, WASH_LAT = 30.5896, 30.5904  # in site C1: its yard, and its wash station (89 m apart)


def box(west: float, east: float) -> list[list[float]]:
    return [[west, 30.5893], [east, 30.5893], [east, 30.5907], [west, 30.5907]]


def city(
    rules: dict[str, Any] | None = None, windows: list[str] | None = None, *, zone: bool = False, sites: bool = False
) -> City:
    """The unit-test city with a collection point for the garbage truck; ``zone``: a forbidden zone on the route;
    ``sites``: the permit's origin site C1 at the route's west end (t <= 32 in it; a wash station in its north)
    and its disposal site D1 on the route (t = 560..640 in it)."""
    data = load_city(CITY_DIR).model_dump()
    data["zones"] = [{"zone_id": "Z1", "name": "学校禁行区", "polygon": ZONE}] if zone else []
    if sites:
        data["sites"][0] |= {"polygon": box(114.2995, 114.3008), "wash_stations": [[114.3000, WASH_LAT]]}
        data["disposal_sites"] = [{"site_id": "D1", "name": "一号消纳场", "polygon": box(114.3140, 114.3160)}]
        data["permits"][0] |= {"origin_sites": ["C1"], "disposal_sites": ["D1"]}
    data["collection_points"] = [
        {
            "point_id": "P1",
            "name": "一号收集点",
            "lon": 114.305,
            "lat": 30.595,
            "deadline": "23:59",
            "served_by": ["G1"],
        }
    ]
    for name, over in (rules or {}).items():
        data["meta"]["rules"][name] = {**data["meta"]["rules"].get(name, {}), **over}
    if windows is not None:
        data["permits"][0]["windows"] = windows
    return City.model_validate(data)


def at(t_s: float) -> int:
    return T0 + round(t_s * 1000)


def along(t_s: float) -> float:
    return WEST + t_s * ALONG


class Terminal:
    """One terminal through the engine: seq grows in arrival order, as the gateway numbers messages."""

    def __init__(self, engine: Engine, device: str = DEVICE) -> None:
        self.engine, self.device = engine, device
        self.state: DeviceState | None = None
        self.seq = 0
        self.alerts: list[Alert] = []
        self.facts: list[Fact] = []

    def send(self, t_s: float, **over: Any) -> list[Alert]:
        fields: dict[str, Any] = {
            "device_id": self.device,
            "ts_ms": at(t_s),
            "seq": self.seq,
            "lon": along(t_s),
            "lat": LAT,
            "speed_kmh": 30.0,
            "heading_deg": 90.0,
            "load_state": "full",
            "cover_closed": True,
        }
        fields.update(over)
        self.seq += 1
        out = self.engine.process(self.state, VehiclePosition.model_validate(fields))
        assert not out.duplicate
        self.state = out.state
        self.alerts += out.alerts
        self.facts += out.facts
        return out.alerts

    def run(self, times: range | list[float], fields: Callable[[float], dict[str, Any]] | None = None) -> list[Alert]:
        return [a for t in times for a in self.send(t, **(fields(t) if fields else {}))]

    def tick(self, t_s: float) -> list[Alert]:
        assert self.state is not None
        out = self.engine.tick(self.state, self.device, at(t_s))
        self.state = out.state
        self.alerts += out.alerts
        return out.alerts

    @property
    def late(self) -> LateState:
        assert self.state is not None
        return self.state.rules["late_fixes"]

    def live_states(self) -> dict[str, Any]:
        assert self.state is not None
        return {k: v for k, v in self.state.rules.items() if k != "late_fixes"}


def blind_area(
    terminal: Terminal,
    blind: Callable[[float], dict[str, Any]] | None = None,
    live: Callable[[float], dict[str, Any]] | None = None,
) -> tuple[list[Alert], list[Alert]]:
    """Drive the standard blind area; return the alerts of the real-time fixes and those of the late batch."""
    real_time = terminal.run(BEFORE, live) + terminal.run(AFTER, live)
    live_states = terminal.live_states()
    batch = terminal.run(BLIND, blind)
    assert [a for a in batch if not a.evidence.get("late")] == []
    assert terminal.live_states() == live_states  # (unless it proves a live episode: see the dumping merge test)
    return real_time, batch


def summary(alerts: list[Alert]) -> list[tuple[str, str, float, float]]:
    return [(a.rule, a.phase.value, (a.ts_ms - T0) / 1000, (a.episode_start_ms - T0) / 1000) for a in alerts]


def late_pair(rule: str, ts_s: float, start_s: float) -> list[tuple[str, str, float, float]]:
    return [(rule, "open", ts_s, start_s), (rule, "clear", ts_s, start_s)]


def assert_late_episode(alerts: list[Alert], rule: str, start_s: float, fix_s: float) -> None:
    """A late episode: its own id, OPEN and CLEAR together at the fix that proved it, late evidence."""
    assert summary(alerts) == late_pair(rule, fix_s, start_s)
    assert {a.alert_id for a in alerts} == {late_alert_id(rule, DEVICE, at(start_s))}
    assert alerts[0].alert_id != alert_id(rule, DEVICE, at(start_s))
    assert all(a.evidence["late"] is True and a.evidence["fix_ts_ms"] == at(fix_s) for a in alerts)
    assert all((a.evidence["gap_start_ms"], a.evidence["gap_end_ms"]) == (at(120), at(720)) for a in alerts)


# --- the blind area of the issue: silence, GPS anomaly and a forbidden zone entered in it ----------------------


def test_a_blind_batch_after_real_time_fixes_judges_the_zone_entry_late_without_silence_or_jump() -> None:
    """Out of coverage 10 minutes, in the zone meanwhile; the batch arrives after real-time fixes resumed."""
    truck = Terminal(Engine(city(zone=True)))
    for t in [*BEFORE, *AFTER]:  # the runner ticks on event time; here the truck is the fleet
        truck.send(t)
        truck.tick(t)
    assert truck.alerts == []
    batch = []
    for i, t in enumerate(BLIND):  # the batch arrives just after the fix at 800
        batch += truck.send(t)
        batch += truck.tick(801 + i)
    assert [a.rule for a in truck.alerts] == ["forbidden_zone", "forbidden_zone"]  # no silence, no GPS anomaly
    assert_late_episode(batch, "forbidden_zone", 300, 310)
    assert batch[0].evidence | {"zone_id": "Z1", "zone_name": "学校禁行区", "duration_s": 10.0} == batch[0].evidence
    assert (batch[0].lon, batch[0].lat) == (along(310), LAT)
    assert (truck.late.judged, truck.late.unjudged, truck.late.untrusted) == (59, 0, 0)


def test_with_the_fleet_clock_running_the_silence_is_real_time_and_the_batch_leaves_it_alone() -> None:
    """Other devices move the watermark through the blind area: the terminal was offline then (one episode)."""
    truck = Terminal(Engine(city(zone=True)))
    for t in range(0, 801, 10):
        if t in BEFORE or t in AFTER:
            truck.send(t)
        truck.tick(t)
    silent = [a for a in truck.alerts if a.rule == silence.RULE]
    assert summary(silent) == [("silent_device", "open", 430, 120), ("silent_device", "clear", 720, 120)]
    batch = truck.run(BLIND) + truck.tick(810)
    assert [a.rule for a in batch] == ["forbidden_zone", "forbidden_zone"]  # nothing reopened, re-cleared, opened
    assert truck.state is not None and truck.state.rules[silence.RULE].last_seen_ms == at(800)


def test_a_blind_batch_ahead_of_the_real_time_fixes_is_judged_live_and_never_flaps_the_silence() -> None:
    """The batch (newer than 120: not late) arrives first, at fleet time ~720, and the clock ticks through it."""
    truck = Terminal(Engine(city(zone=True)))
    for t in range(0, 721, 10):
        if t in BEFORE:
            truck.send(t)
        truck.tick(t)
    for i, t in enumerate(BLIND):
        truck.send(t)
        truck.tick(721 + i)  # 721 - 130 > 300 s, but the terminal was heard at 720
    truck.run(AFTER)
    assert summary(truck.alerts) == [
        ("silent_device", "open", 430, 120),
        ("silent_device", "clear", 430, 120),
        ("forbidden_zone", "open", 310, 300),
        ("forbidden_zone", "clear", 390, 300),
    ]
    assert truck.alerts[1].evidence["late"] is True  # the silence cleared by a backlog, stamped at its OPEN
    assert "late" not in truck.alerts[2].evidence and "late_fixes" not in (truck.state or DeviceState()).rules


def test_the_late_run_survives_a_json_round_trip_of_the_state() -> None:
    engine = Engine(city(zone=True))
    straight, restored = Terminal(engine), Terminal(engine)
    for t in [*BEFORE, *AFTER, *BLIND]:
        straight.send(t)
        if restored.state is not None:
            restored.state = DeviceState.from_dict(json.loads(json.dumps(restored.state.to_dict())))
        restored.send(t)
    assert restored.alerts == straight.alerts and len(straight.alerts) == 2
    assert restored.state == straight.state


# --- which late fixes are judged --------------------------------------------------------------------------------


def test_a_resend_of_a_fix_judged_live_and_a_fix_outside_every_gap_are_not_judged() -> None:
    truck = Terminal(Engine(city()))
    truck.run([*BEFORE, *AFTER])
    assert truck.send(720) == [] and truck.send(60) == []  # a resend of a live fix; a fix in no gap
    assert truck.send(300) == []  # in the gap (120, 720): judged (nothing to see)
    assert (truck.late.judged, truck.late.unjudged) == (1, 2)


def test_chunks_of_the_upload_out_of_order_are_each_judged_and_a_fix_inside_a_judged_span_is_not() -> None:
    truck = Terminal(Engine(city(zone=True)))
    truck.run([*BEFORE, *AFTER])
    second, first = truck.run(range(420, 711, 10)), truck.run(range(130, 411, 10))
    assert second == []
    assert_late_episode(first, "forbidden_zone", 300, 310)  # the earlier chunk came second: run again from the gap
    assert truck.send(350) == []  # inside the span the run has judged
    assert (truck.late.judged, truck.late.unjudged) == (59, 1)


# --- rule by rule ---------------------------------------------------------------------------------------------


def test_gps_anomaly_checks_late_fixes_forward_from_the_fix_before_the_gap_and_keeps_jumps_out() -> None:
    """No GPS alert from late fixes; one impossible from the late fix before it is kept from the other rules.

    The zone opens at once here (min 0 s), so a single fix in it would show: at 320 the truck is in the
    zone, its other blind fixes 144 m west of it (plausible), or 575 m (a jump there and back in 10 s).
    """
    for outside, untrusted in ((280, 0), (100, 1)):
        truck = Terminal(Engine(city({"forbidden_zone": {"min_duration_s": 0}}, zone=True)))
        real_time, batch = blind_area(truck, lambda t, west=outside: {"lon": along(340 if t == 320 else west)})
        assert real_time == [] and all(a.rule == "forbidden_zone" for a in batch)
        assert summary(batch) == ([] if untrusted else late_pair("forbidden_zone", 320, 320))
        assert (truck.late.judged, truck.late.untrusted) == (59 - untrusted, untrusted)


def test_speeding_in_the_blind_area_is_a_late_episode() -> None:
    truck = Terminal(Engine(city()))
    real_time, batch = blind_area(truck, lambda t: {"speed_kmh": 60.0 if 200 <= t <= 260 else 30.0})
    assert real_time == []
    assert_late_episode(batch, "speeding", 200, 230)
    assert batch[0].evidence["max_speed_kmh"] == 60.0 and batch[0].severity is Severity.MAJOR


def test_speeding_reported_live_across_the_blind_area_is_not_reported_again() -> None:
    truck = Terminal(Engine(city()))
    fast = {"speed_kmh": 60.0}
    real_time, batch = blind_area(truck, lambda t: fast, live=lambda t: fast if 50 <= t <= 120 else {})
    assert summary(real_time) == [("speeding", "open", 80, 50), ("speeding", "clear", 720, 50)]
    assert batch == []


def test_speeding_under_way_when_the_blind_area_began_and_dropped_live_is_proven_late() -> None:
    """Pending at 120 (10 s of 30), the live rule drops it at 720 (legal); the blind fixes prove 30 s."""
    truck = Terminal(Engine(city()))
    fast = {"speed_kmh": 60.0}
    real_time, batch = blind_area(
        truck, lambda t: fast if t <= 200 else {}, live=lambda t: fast if t >= 110 and t <= 120 else {}
    )
    assert real_time == []
    assert summary(batch) == late_pair("speeding", 140, 110)
    assert batch[0].alert_id == late_alert_id("speeding", DEVICE, at(110))


def test_route_deviation_in_the_blind_area_is_a_late_episode() -> None:
    truck = Terminal(Engine(city()))
    real_time, batch = blind_area(truck, lambda t: {"lat": OFF_ROUTE_LAT} if 200 <= t <= 260 else {})
    assert real_time == []
    assert_late_episode(batch, "route_deviation", 200, 230)
    assert batch[0].evidence["permit_id"] == "P-M1" and batch[0].evidence["distance_m"] > 200


def test_out_of_window_running_in_the_blind_area_is_a_late_episode() -> None:
    """Permit hours 08:00-09:00; 22:13 local: standing live, running in the blind area."""
    truck = Terminal(Engine(city(windows=["08:00-09:00"])))
    standing = {"speed_kmh": 0.0, "load_state": "empty"}
    real_time, batch = blind_area(
        truck, lambda t: {"load_state": "empty"} if 200 <= t <= 300 else standing, live=lambda t: standing
    )
    assert real_time == []
    assert_late_episode(batch, "out_of_window", 200, 260)
    assert batch[0].evidence["reason"] == "outside_hours"


def test_an_open_cover_in_the_blind_area_is_a_late_episode() -> None:
    truck = Terminal(Engine(city()))
    real_time, batch = blind_area(truck, lambda t: {"cover_closed": not 200 <= t <= 250})
    assert real_time == []
    assert_late_episode(batch, "uncovered_load", 200, 220)


def test_a_suspended_company_truck_running_in_the_blind_area_is_a_late_episode() -> None:
    engine = Engine(city())
    engine.set_suspended(frozenset({"城建运输"}))
    truck = Terminal(engine)
    standing = {"speed_kmh": 0.0, "load_state": "empty"}
    real_time, batch = blind_area(
        truck, lambda t: {"load_state": "empty"} if 200 <= t <= 300 else standing, live=lambda t: standing
    )
    assert real_time == []
    assert_late_episode(batch, "suspended_operation", 200, 260)
    assert batch[0].severity is Severity.CRITICAL


def test_dumping_with_the_body_lifted_in_the_blind_area_is_a_late_episode() -> None:
    truck = Terminal(Engine(city()))

    def blind(t: float) -> dict[str, Any]:
        if 200 <= t <= 300:
            return {"lon": along(200), "speed_kmh": 0.0, "body_lifted": 220 <= t <= 260}
        return {}

    real_time, batch = blind_area(truck, blind)
    assert real_time == []
    assert_late_episode(batch, "illegal_dumping", 200, 240)
    assert batch[0].severity is Severity.CRITICAL and batch[0].evidence["trigger"] == "body_lifted"


def test_a_lift_proven_late_in_a_stop_still_going_on_opens_the_live_episode() -> None:
    """Stopped at 110; lifted 200-240 in a blind area (120-420); still stopped when the batch arrives."""
    truck = Terminal(Engine(city()))
    stop = {"lon": along(110), "speed_kmh": 0.0}
    truck.run(range(0, 101, 10))
    truck.run([110, 120, *range(420, 501, 10)], lambda t: stop)
    live_id = alert_id("illegal_dumping", DEVICE, at(110))
    batch = truck.run(range(130, 411, 10), lambda t: stop | {"body_lifted": 200 <= t <= 240})
    assert summary(batch) == [("illegal_dumping", "open", 500, 110)]  # stamped after the live fixes of its episode
    assert batch[0].alert_id == live_id and batch[0].severity is Severity.CRITICAL
    assert batch[0].evidence["late"] is True and batch[0].evidence["fix_ts_ms"] == at(220)
    moved_on = truck.run(range(510, 561, 10), lambda t: {"lon": along(110) + (t - 500) * ALONG})
    assert summary(moved_on) == [("illegal_dumping", "clear", 540, 110)]
    assert moved_on[0].alert_id == live_id and moved_on[0].evidence["ended_by"] == "moved_on"


def test_a_collection_point_served_in_the_blind_area_yields_its_service_fact() -> None:
    truck = Terminal(Engine(city()), device="gps-g1")
    at_point = {"lon": 114.305, "lat": 30.595, "speed_kmh": 0.0, "load_state": "empty", "cover_closed": None}
    passing = {"lat": 30.594, "load_state": "empty", "cover_closed": None}  # 111 m south: out of reach
    real_time, batch = blind_area(truck, lambda t: at_point if 200 <= t <= 260 else passing, live=lambda t: passing)
    assert real_time == batch == []
    assert [(f.kind, f.key, f.ts_ms, f.data["dwell_s"]) for f in truck.facts] == [("served", "P1", at(200), 30.0)]


@pytest.mark.parametrize("timeout_s", [7200, 300])
def test_a_delivery_in_the_blind_area_ends_the_live_trip_and_never_times_out(timeout_s: int) -> None:
    """Loaded out of C1 at 40, through D1 (560-640) out of coverage: no 偷倒 case at the timeout.

    With a 300 s timeout the live trip has opened at 720 already: the delivery clears it, late."""

    def trip(with_batch: bool) -> tuple[Terminal, list[Alert]]:
        truck = Terminal(Engine(city({"illegal_dumping": {"trip_timeout_s": timeout_s}}, sites=True)))
        truck.run([*BEFORE, *AFTER])
        assert truck.state is not None and truck.state.rules["trip_not_delivered"].trip_start_ms == at(40)
        batch = truck.run(BLIND, lambda t: {"load_state": "empty"} if t > 640 else {}) if with_batch else []
        truck.send(7300, lon=along(800))
        return truck, batch

    truck, batch = trip(with_batch=False)
    opened = [("trip_not_delivered", "open", 720 if timeout_s == 300 else 7300, 40)]
    assert summary([a for a in truck.alerts if a.rule == "trip_not_delivered"]) == opened
    truck, batch = trip(with_batch=True)
    assert summary([a for a in truck.alerts if a.rule == "trip_not_delivered"]) == (
        [*opened, ("trip_not_delivered", "clear", 800, 40)] if timeout_s == 300 else []
    )
    if timeout_s == 300:
        (cleared,) = batch
        assert cleared.evidence | {"outcome": "delivered", "late": True, "fix_ts_ms": at(560)} == cleared.evidence
    assert truck.state is not None and truck.state.rules["trip_not_delivered"].trip_start_ms is None


YARD = {"lon": 114.300, "lat": YARD_LAT, "speed_kmh": 0.0, "load_state": "empty"}
WASH = YARD | {"lat": WASH_LAT}
OUT_OF_C1 = {"lon": 114.302}  # east of C1
DEADLINE = 720 + dirty_truck.LATE_WAIT_S  # the held exit's deadline: its data gap's end + the wait


def site_visit(
    truck: Terminal, wash: Callable[[float], bool] | None = None, *, blind: range = BLIND, gap: bool = True
) -> list[Alert]:
    """In C1 from 0 (at its yard); back in real time at 720 (``gap``: none from 130 to 710); out of C1 from 730,
    the exit confirmed at 750. With ``wash``, the blind fixes of ``blind`` then arrive, at the wash when
    ``wash(t)``. Returns the dirty-truck alerts of the real-time fixes."""
    live = truck.run([*BEFORE, *([] if gap else BLIND), 720], lambda t: YARD)
    live += truck.run(range(730, 771, 10), lambda t: OUT_OF_C1)
    if wash is not None:
        truck.run(blind, lambda t: WASH if wash(t) else YARD)
    return [a for a in live if a.rule == "dirty_truck"]


def dirty(alerts: Terminal | list[Alert]) -> list[Alert]:
    return [a for a in (alerts.alerts if isinstance(alerts, Terminal) else alerts) if a.rule == "dirty_truck"]


def held(truck: Terminal) -> tuple[dirty_truck.HeldExit, ...]:
    assert truck.state is not None
    return truck.state.rules["dirty_truck"].held


def test_an_exit_without_a_data_gap_is_judged_at_once_as_before() -> None:
    """Real-time fixes every 10 s throughout: the exit at 730 is judged at 750, as it always was."""
    truck = Terminal(Engine(city(sites=True)))
    live = site_visit(truck, gap=False)
    assert summary(live) == [("dirty_truck", "open", 750, 730), ("dirty_truck", "clear", 750, 730)]
    assert {a.alert_id for a in live} == {alert_id("dirty_truck", DEVICE, at(730))}
    assert live[0].evidence == {
        "site_id": "C1",
        "entered_ms": at(0),
        "exit_ms": at(730),
        "visit_s": 730.0,
        "max_wash_s": 0.0,
        "wash_min_dwell_s": 60.0,
    }
    assert held(truck) == () and "late_fixes" not in (truck.state or DeviceState()).rules


def test_a_wash_hidden_in_a_data_gap_uploaded_after_the_exit_leaves_no_case() -> None:
    """The issue: C1's wash at 200-300 out of coverage, out 10 s after coverage returned; the batch comes after.

    The exit is held (no 带泥上路 case at 750), the batch proves the wash, and nothing is judged at the deadline."""
    truck = Terminal(Engine(city(sites=True)))
    live = site_visit(truck, lambda t: 200 <= t <= 300)
    assert live == [] and dirty(truck) == []
    assert held(truck) == ()  # released by the wash
    assert dirty(truck.tick(DEADLINE + 10)) == [] and dirty(truck) == []


def test_an_exit_held_for_a_data_gap_the_upload_shows_unwashed_is_judged_late() -> None:
    """The same visit without a wash: the case comes with the batch, once it covers the gap, marked late."""
    truck = Terminal(Engine(city(sites=True)))
    site_visit(truck, lambda t: False, blind=range(130, 681, 10))  # up to 680: 40 s of the gap still unseen
    assert [(h.exit_ms, h.judged_ms, h.gaps, h.deadline_ms) for h in held(truck)] == [
        (at(730), at(750), ((at(120), at(720)),), at(DEADLINE))
    ]
    assert dirty(truck) == [] and len(held(truck)) == 1
    batch = truck.run(range(690, 711, 10), lambda t: YARD)
    assert summary(batch) == [("dirty_truck", "open", 750, 730), ("dirty_truck", "clear", 750, 730)]
    assert {a.alert_id for a in batch} == {alert_id("dirty_truck", DEVICE, at(730))}  # the exit's own id
    assert batch[0].evidence == {
        "site_id": "C1",
        "entered_ms": at(0),
        "exit_ms": at(730),
        "visit_s": 730.0,
        "max_wash_s": 0.0,
        "wash_min_dwell_s": 60.0,
        "late": True,
        "fix_ts_ms": at(690),
        "gap_start_ms": at(120),
        "gap_end_ms": at(720),
    }
    assert held(truck) == () and dirty(truck.tick(DEADLINE + 10)) == []


def test_an_exit_held_for_a_data_gap_never_filled_is_judged_at_the_deadline() -> None:
    """No upload (or none covering the gap): judged on what is known once the wait after the gap is over,
    by the watermark or by the truck's own next fix, with the unfilled gap in the evidence."""
    for by_tick in (True, False):
        truck = Terminal(Engine(city(sites=True)))
        assert site_visit(truck) == []
        if by_tick:
            assert dirty(truck.tick(DEADLINE - 1)) == []
            judged = dirty(truck.tick(DEADLINE))
        else:
            judged = dirty(truck.send(DEADLINE + 5, **OUT_OF_C1))
        assert summary(dirty(truck)) == [("dirty_truck", "open", 750, 730), ("dirty_truck", "clear", 750, 730)]
        assert {a.alert_id for a in judged} == {alert_id("dirty_truck", DEVICE, at(730))}
        assert judged[0].evidence == {
            "site_id": "C1",
            "entered_ms": at(0),
            "exit_ms": at(730),
            "visit_s": 730.0,
            "max_wash_s": 0.0,
            "wash_min_dwell_s": 60.0,
            "data_gap_s": 600.0,
            "data_gaps": [[at(120), at(720)]],
            "held_until_ms": at(DEADLINE),
        }
        assert held(truck) == () and dirty(truck.tick(DEADLINE + 100)) == []
        assert dirty(truck.run(BLIND, lambda t: WASH if 200 <= t <= 300 else YARD)) == []  # too late: nothing changes


def test_a_batch_with_a_hole_or_only_part_of_the_gap_leaves_the_exit_held() -> None:
    """Fixes 130-400 and 450-710 (a 50 s hole), or only 420-710 (the first chunk never comes): not filled."""
    for blind in ([*range(130, 401, 10), *range(450, 711, 10)], range(420, 711, 10)):
        truck = Terminal(Engine(city(sites=True)))
        site_visit(truck)
        assert truck.run(blind, lambda t: YARD) == [] and len(held(truck)) == 1
        assert summary(dirty(truck.tick(DEADLINE))) == [
            ("dirty_truck", "open", 750, 730),
            ("dirty_truck", "clear", 750, 730),
        ]


def test_chunks_out_of_order_release_the_exit_whichever_holds_the_wash() -> None:
    for wash in ((200, 300), (500, 600)):
        truck = Terminal(Engine(city(sites=True)))
        site_visit(truck)
        truck.run([*range(420, 711, 10), *range(130, 411, 10)], lambda t, w=wash: WASH if w[0] <= t <= w[1] else YARD)
        assert dirty(truck) == [] and held(truck) == ()


def test_a_wash_under_way_at_the_end_of_the_batch_is_waited_for() -> None:
    """At the wash from 650: from 690 the gap counts as covered, but the fix at 710 could still end a 60 s dwell."""
    for last, washed in ((WASH, True), (YARD, False)):
        truck = Terminal(Engine(city(sites=True)))
        site_visit(truck, lambda t: t >= 650, blind=range(130, 701, 10))
        assert dirty(truck) == [] and len(held(truck)) == 1  # 650-700 is 50 s: not proven, not disproven
        fix = dirty(truck.send(710, **last))
        assert held(truck) == ()
        assert summary(fix) == (
            [] if washed else [("dirty_truck", "open", 750, 730), ("dirty_truck", "clear", 750, 730)]
        )


def test_an_upload_before_the_exit_fills_the_visit_gap_and_the_exit_is_judged_at_once() -> None:
    truck = Terminal(Engine(city(sites=True)))
    truck.run([*BEFORE, 720], lambda t: YARD)
    truck.run(BLIND, lambda t: YARD)
    assert truck.state is not None and truck.state.rules["dirty_truck"].gaps == ()
    truck.run(range(730, 771, 10), lambda t: OUT_OF_C1)
    assert summary(dirty(truck)) == [("dirty_truck", "open", 750, 730), ("dirty_truck", "clear", 750, 730)]
    assert "late" not in dirty(truck)[0].evidence and "data_gap_s" not in dirty(truck)[0].evidence


def test_a_held_exit_survives_a_json_round_trip_and_old_states_load() -> None:
    engine = Engine(city(sites=True))
    straight, restored = Terminal(engine), Terminal(engine)
    times = [*BEFORE, 720, *range(730, 771, 10), *BLIND]
    for t in times:
        fields = OUT_OF_C1 if 730 <= t <= 770 else YARD
        straight.send(t, **fields)
        if restored.state is not None:
            restored.state = DeviceState.from_dict(json.loads(json.dumps(restored.state.to_dict())))
        restored.send(t, **fields)
    assert restored.alerts == straight.alerts and len(dirty(straight)) == 2
    assert restored.state == straight.state
    old = {
        "last_ts_ms": 5,
        "site_id": "C1",
        "entered_ms": 1,
        "wash_since_ms": None,
        "washed": False,
        "max_wash_s": 0.0,
        "exit_ms": None,
        "exit_lon": None,
        "exit_lat": None,
    }  # written before gaps
    assert dirty_truck.DirtyTruckState.from_dict(old) == dirty_truck.DirtyTruckState(5, "C1", 1)


def test_only_a_late_fix_after_the_departure_at_a_site_ends_a_trip_and_only_the_same_visit_takes_a_wash() -> None:
    ms, fix = timelines.ms, timelines.position
    trip = trip_delivery.TripState(last_ts_ms=ms(100), trip_start_ms=ms(50), start_lon=114.3, start_lat=30.59)
    who = {"subject": DEVICE, "matter_code": "08106"}
    for t, zone in ((40, "disposal"), (50, "disposal"), (120, "disposal"), (80, "none")):
        assert trip_delivery.late_end(trip, fix(t), zone, **who) == (trip, [])  # type: ignore[arg-type]
    assert trip_delivery.late_end(trip, fix(80), "disposal", **who) == (trip_delivery.TripState(ms(100)), [])
    back, _ = trip_delivery.late_end(trip, fix(80), "origin", site_id="C1", **who)
    assert back == trip_delivery.TripState(ms(100), at_origin=True, origin_site="C1")
    visit = dirty_truck.DirtyTruckState(last_ts_ms=ms(100), site_id="C1", entered_ms=ms(10))
    washed = replace(visit, last_ts_ms=ms(80), washed=True, max_wash_s=70.0)
    assert dirty_truck.late_wash(visit, washed) == replace(visit, washed=True, max_wash_s=70.0)
    assert dirty_truck.late_wash(visit, replace(washed, entered_ms=ms(20))) == visit  # another visit
    assert dirty_truck.late_wash(visit, replace(washed, washed=False)) == visit


def test_silence_and_trips_and_site_visits_are_not_judged_on_late_fixes() -> None:
    """An unwashed 200 s visit to C1 wholly inside the blind area is not judged (only a wash would count), and
    an empty truck starts no trip; ``blind_area`` checks that no live state moved."""
    truck = Terminal(Engine(city(sites=True)))
    empty = {"load_state": "empty"}
    real_time, batch = blind_area(
        truck,
        lambda t: empty | {"lon": 114.300, "lat": YARD_LAT, "speed_kmh": 0.0} if 200 <= t <= 400 else empty,
        live=lambda t: empty,
    )
    assert [a.rule for a in real_time + batch] == []
    assert truck.state is not None and {"silent_device", "trip_not_delivered", "dirty_truck"} <= set(truck.state.rules)


# --- every rule's own step ignores a fix older than its last -------------------------------------------------


STEP_CITY = city(windows=["08:00-09:00"], zone=True)


def _zone_step(s: Any, p: VehiclePosition) -> tuple[Any, list[Alert]]:
    return forbidden_zone.step(
        s,
        p,
        ["Z1"],
        {"Z1": STEP_CITY.zones[0]},
        ForbiddenZoneParams(),
        vehicle_kind="muck",
        tz="Asia/Shanghai",
        subject=DEVICE,
        matter_code="08103",
    )


RULE_STEPS: dict[str, Callable[[Any, VehiclePosition], tuple[Any, list[Alert]]]] = {
    "route_deviation": lambda s, p: route_deviation.step(
        s, p, 200.0, 50.0, RouteDeviationParams(), subject=DEVICE, matter_code="08101", permit_id="P"
    ),
    "uncovered_load": lambda s, p: uncovered_load.step(
        s, p, UncoveredLoadParams(), subject=DEVICE, matter_code="08011"
    ),
    "out_of_window": lambda s, p: out_of_window.step(
        s, p, STEP_CITY.permits[0], OutOfWindowParams(), tz="Asia/Shanghai", subject=DEVICE, matter_code="08102"
    ),
    "forbidden_zone": _zone_step,
    "speeding": lambda s, p: speeding.step(s, p, SpeedingParams(), subject=DEVICE, matter_code="08104"),
    "illegal_dumping": lambda s, p: illegal_dumping.step(
        s, p, "none", IllegalDumpingParams(), subject=DEVICE, matter_code="08105"
    ),
    "trip_not_delivered": lambda s, p: trip_delivery.step(
        s, p, "none", IllegalDumpingParams(), subject=DEVICE, matter_code="08106"
    ),
    "dirty_truck": lambda s, p: dirty_truck.step(
        s, p, "C1", False, params_of(STEP_CITY).dirty_truck, subject=DEVICE, matter_code="08012"
    ),
    "suspended_operation": lambda s, p: suspended_operation.step(
        s, p, True, SuspendedOperationParams(), subject=DEVICE, matter_code="08108"
    ),
    "gps_anomaly": lambda s, p: gps_anomaly.step(s, p, GpsAnomalyParams(), subject=DEVICE, matter_code="03102")[:2],
    "silent_device": lambda s, p: silence.seen(s, p.ts_ms, subject=DEVICE, matter_code="03101", lon=p.lon, lat=p.lat),
    "collection_dwell": lambda s, p: collection_dwell.step(
        s, p, ["P1"], params_of(STEP_CITY).collection, vehicle_id="G1"
    ),
}
INITIAL = {
    "route_deviation": route_deviation.RouteDeviationState(),
    "uncovered_load": uncovered_load.UncoveredLoadState(),
    "out_of_window": out_of_window.OutOfWindowState(),
    "forbidden_zone": forbidden_zone.ForbiddenZoneState(),
    "speeding": speeding.SpeedingState(),
    "illegal_dumping": illegal_dumping.IllegalDumpingState(),
    "trip_not_delivered": trip_delivery.TripState(),
    "dirty_truck": dirty_truck.DirtyTruckState(),
    "suspended_operation": suspended_operation.SuspendedOperationState(),
    "gps_anomaly": gps_anomaly.GpsAnomalyState(),
    "silent_device": silence.SilenceState(),
    "collection_dwell": collection_dwell.DwellState(),
}


@pytest.mark.parametrize("rule", sorted(RULE_STEPS))
def test_each_vehicle_rule_ignores_a_fix_older_than_its_last(rule: str) -> None:
    """The invariant the pipeline builds on: a rule's own state only moves forward in event time."""

    def fix(t_s: float) -> VehiclePosition:
        return timelines.position(t_s, speed_kmh=60.0 if t_s else 0.0, cover=False, lifted=True, lon_per_s=1e-5)

    state, _ = timelines.run(RULE_STEPS[rule], INITIAL[rule], [fix(t) for t in range(0, 301, 10)])
    for late in (fix(150), fix(300), fix(295)):
        assert RULE_STEPS[rule](state, late) == (state, [])


# --- the terminal's own alarms ---------------------------------------------------------------------------------


OPENERS: dict[str, Callable[[float], dict[str, Any]]] = {
    "speeding": lambda t: {"speed_kmh": 60.0},
    "route_deviation": lambda t: {"lat": OFF_ROUTE_LAT},
    "forbidden_zone": lambda t: {"lon": along(340)},
    "uncovered_load": lambda t: {"cover_closed": False},
    "out_of_window": lambda t: {},
}


@pytest.mark.parametrize("rule", sorted(OPENERS))
def test_alerts_of_a_fix_carry_the_terminal_alarms_and_nothing_changes_without_them(rule: str) -> None:
    alarms = ("overspeed", "route_deviation")

    def drive(with_alarms: bool) -> list[Alert]:
        truck = Terminal(Engine(city(windows=["08:00-09:00"] if rule == "out_of_window" else None, zone=True)))
        extra = {"terminal_alarms": alarms} if with_alarms else {}
        truck.run(range(0, 91, 10), lambda t: OPENERS[rule](t) | extra)
        truck.run(range(100, 121, 10), lambda t: {"terminal_alarms": ()} if with_alarms else {})  # none now
        return [a for a in truck.alerts if a.rule == rule]

    plain, flagged = drive(False), drive(True)
    assert [a.phase for a in flagged][:1] == [Phase.OPEN]
    assert [a.alert_id for a in flagged] == [a.alert_id for a in plain]
    assert all("terminal_alarms" not in a.evidence for a in plain)
    for a, b in zip(plain, flagged, strict=True):
        expected = {**a.evidence, "terminal_alarms": list(alarms)} if b.ts_ms <= at(90) else a.evidence
        assert b.evidence == expected


def test_late_alerts_carry_the_terminal_alarms_of_the_late_fix() -> None:
    truck = Terminal(Engine(city()))
    _, batch = blind_area(
        truck, lambda t: {"speed_kmh": 60.0, "terminal_alarms": ("overspeed",)} if 200 <= t <= 260 else {}
    )
    assert [a.evidence["terminal_alarms"] for a in batch] == [["overspeed"], ["overspeed"]]
