"""Forbidden zones (禁行区): golden timelines of (t_s, zone ids the point is in) rows.

T0 (timeline second 0) is 2026-01-01 08:00 in Asia/Shanghai, a Thursday.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from devices.inventory import ForbiddenZone
from devices.schedules import Schedule
from rules import forbidden_zone
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.forbidden_zone import ForbiddenZoneParams, ForbiddenZoneState
from rules.geometry import PolygonIndex
from tests.rules.timelines import (
    DEVICE,
    LAT,
    LON,
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    position,
    run,
    summary,
)

TZ = "Asia/Shanghai"
PARAMS = ForbiddenZoneParams(min_duration_s=10)
SQUARE = [(114.29, 30.59), (114.31, 30.59), (114.31, 30.61), (114.29, 30.61)]


def zone(zone_id: str, kinds: list[str] | None = None, schedule: Schedule | None = None) -> ForbiddenZone:
    """Build a zone over the timeline's point (the polygon only matters to the caller)."""
    return ForbiddenZone.model_validate(
        {
            "zone_id": zone_id,
            "name": f"zone {zone_id}",
            "polygon": SQUARE,
            "vehicle_kinds": kinds or ["muck"],
            "schedule": schedule or Schedule(),
        }
    )


ZONES = {
    "OLD-TOWN": zone("OLD-TOWN"),  # closed to muck trucks all day
    "SCHOOL": zone("SCHOOL", schedule=Schedule.model_validate({"windows": ["07:00-09:00"]})),
    "MARKET": zone("MARKET", kinds=["garbage"]),
    "WEEKEND": zone("WEEKEND", schedule=Schedule(weekdays=[6, 7])),
}

Row = tuple[float, list[str]]  # (t_s, ids of the zones the position lies in)


def zones_run(
    rows: list[Row],
    kind: str = "muck",
    *,
    state: ForbiddenZoneState | None = None,
    restart: bool = False,
) -> tuple[ForbiddenZoneState, list[Alert]]:
    """Run the rule over a timeline of (t_s, zone ids)."""

    def step(s: ForbiddenZoneState, row: tuple[VehiclePosition, list[str]]) -> tuple[ForbiddenZoneState, list[Alert]]:
        pos, inside = row
        return forbidden_zone.step(
            s,
            pos,
            inside,
            ZONES,
            PARAMS,
            vehicle_kind=kind,
            tz=TZ,
            subject=DEVICE,
            matter_code="08011",
        )

    return run(step, state or ForbiddenZoneState(), [(position(t), z) for t, z in rows], restart=restart)


def test_inside_long_enough_opens_and_leaving_clears() -> None:
    rows: list[Row] = [
        (0, []),
        (5, ["OLD-TOWN"]),  # entered: episode starts
        (10, ["OLD-TOWN"]),
        (15, ["OLD-TOWN"]),  # 10 s inside -> OPEN
        (25, ["OLD-TOWN"]),
        (30, []),  # left -> CLEAR
    ]
    _, alerts = zones_run(rows)
    assert summary(alerts) == [("open", 15, 5), ("clear", 30, 5)]
    assert alerts[0].alert_id == alerts[1].alert_id == alert_id("forbidden_zone", DEVICE, ms(5))
    assert {a.severity for a in alerts} == {Severity.MAJOR}
    assert alerts[0].evidence == {
        "zone_id": "OLD-TOWN",
        "zone_name": "zone OLD-TOWN",
        "zone_ids_now": ["OLD-TOWN"],
        "speed_kmh": 30.0,
        "duration_s": 10.0,
    }
    assert alerts[1].evidence["zone_ids_now"] == [] and alerts[1].evidence["duration_s"] == 25.0


def test_short_incursion_raises_nothing() -> None:
    assert zones_run([(0, ["OLD-TOWN"]), (9.999, ["OLD-TOWN"]), (10.5, [])])[1] == []


def test_exactly_min_duration_opens() -> None:
    assert summary(zones_run([(0, ["OLD-TOWN"]), (10, ["OLD-TOWN"])])[1]) == [("open", 10, 0)]


def test_zone_for_other_kinds_does_not_apply() -> None:
    rows: list[Row] = [(t, ["MARKET"]) for t in range(0, 100, 5)]
    assert zones_run(rows)[1] == []
    assert summary(zones_run(rows, kind="garbage")[1]) == [("open", 10, 0)]


def test_schedule_ending_while_inside_clears() -> None:
    rows: list[Row] = [
        (3500, ["SCHOOL"]),
        (3510, ["SCHOOL"]),
        (3599, ["SCHOOL"]),
        (3600, ["SCHOOL"]),
    ]
    _, alerts = zones_run(rows)  # 08:58:20 .. 09:00:00: the school zone lifts at 09:00
    assert summary(alerts) == [("open", 3510, 3500), ("clear", 3600, 3500)]


def test_weekday_schedule_out_of_force_does_not_apply() -> None:
    thursday: list[Row] = [(t, ["WEEKEND"]) for t in range(0, 60, 5)]
    assert zones_run(thursday)[1] == []
    saturday: list[Row] = [(2 * 86400 + t, ["WEEKEND"]) for t in range(0, 60, 5)]
    assert summary(zones_run(saturday)[1]) == [("open", 2 * 86400 + 10, 2 * 86400)]


def test_unknown_zone_ids_are_ignored() -> None:
    assert zones_run([(t, ["NOWHERE"]) for t in range(0, 60, 5)])[1] == []


def test_driving_from_zone_to_zone_is_one_episode_named_by_the_first() -> None:
    rows: list[Row] = [(0, ["SCHOOL"]), (10, ["SCHOOL", "OLD-TOWN"]), (20, ["OLD-TOWN"]), (30, [])]
    _, alerts = zones_run(rows)
    assert summary(alerts) == [("open", 10, 0), ("clear", 30, 0)]
    assert {a.evidence["zone_id"] for a in alerts} == {"SCHOOL"}


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [(0, ["OLD-TOWN"]), (10, ["OLD-TOWN"]), (5, []), (10, []), (20, [])]
    state, alerts = zones_run(rows)
    assert summary(alerts) == [("open", 10, 0), ("clear", 20, 0)]
    assert state == ForbiddenZoneState(last_ts_ms=ms(20))


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [(0, ["OLD-TOWN"]), (5, ["OLD-TOWN"]), (10, ["OLD-TOWN"]), (20, [])]
    pending, _ = zones_run(rows[:2])
    assert pending.zone_id == "OLD-TOWN" and not pending.is_open
    assert json_round_trip(pending) == pending
    assert zones_run(rows[2:], state=json_round_trip(pending))[1] == zones_run(rows)[1]


def test_with_the_polygon_index_as_the_caller() -> None:
    index = PolygonIndex.build([(z.zone_id, z.polygon) for z in ZONES.values()])
    inside = index.ids_at(LON, LAT)
    assert sorted(inside) == sorted(ZONES)
    _, alerts = zones_run([(0, inside), (10, inside), (20, index.ids_at(LON + 0.05, LAT))])
    assert summary(alerts) == [("open", 10, 0), ("clear", 20, 0)]


zone_sets = st.lists(st.sampled_from(sorted(ZONES)), max_size=3, unique=True)
timelines = st.lists(st.tuples(st.integers(1, 20), zone_sets), min_size=1, max_size=60).map(from_gaps)


@given(timelines)
def test_alerts_form_episodes_that_lasted_long_enough(rows: list[Row]) -> None:
    _, alerts = zones_run(rows)
    check_grammar(alerts)
    assert {a.phase for a in alerts} <= {Phase.OPEN, Phase.CLEAR}
    assert all(a.ts_ms - a.episode_start_ms >= PARAMS.min_duration_s * 1000 for a in alerts)


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert zones_run(rows, restart=True) == zones_run(rows)


@given(timelines)
def test_garbage_trucks_ignore_muck_only_zones(rows: list[Row]) -> None:
    _, alerts = zones_run(rows, kind="garbage")
    assert {a.evidence["zone_id"] for a in alerts} <= {"MARKET"}
