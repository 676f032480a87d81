"""Dirty truck (车轮带泥): golden timelines of (t_s, site the truck is in, at a wash station) rows."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from devices.rule_params import DirtyTruckParams
from rules import dirty_truck
from rules.alerts import Alert, Severity, alert_id
from rules.dirty_truck import DirtyTruckState
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

PARAMS = DirtyTruckParams(wash_min_dwell_s=60, min_visit_s=60, exit_confirm_s=20)
OUT, WASH = False, True
SITE = "SITE-1"

Row = tuple[float, str | None, bool]  # (t_s, site id or None, at a wash station)


def truck(t: float) -> VehiclePosition:
    """Build a position; lon moves with time so the exit point is recognisable."""
    return position(t, speed_kmh=10.0, load="empty", cover=None, heading_deg=0.0, lon_per_s=1e-6)


def visits(
    rows: list[Row],
    params: DirtyTruckParams = PARAMS,
    *,
    state: DirtyTruckState | None = None,
    restart: bool = False,
) -> tuple[DirtyTruckState, list[Alert]]:
    """Run the rule over a timeline of (t_s, site, at wash)."""

    def step(
        s: DirtyTruckState, row: tuple[VehiclePosition, str | None, bool]
    ) -> tuple[DirtyTruckState, list[Alert]]:
        pos, site, wash = row
        return dirty_truck.step(s, pos, site, wash, params, subject=DEVICE, matter_code="08012")

    return run(
        step, state or DirtyTruckState(), [(truck(t), s, w) for t, s, w in rows], restart=restart
    )


def test_leaving_unwashed_is_one_instantaneous_episode_at_the_exit() -> None:
    rows: list[Row] = [
        (0,    None, OUT),
        (100,  SITE, OUT),  # entered
        (400,  SITE, OUT),  # loaded
        (500,  SITE, WASH),  # a 30 s stop at the wash: not enough
        (530,  SITE, WASH),
        (540,  SITE, OUT),
        (600,  None, OUT),  # first point outside: the exit
        (619,  None, OUT),
        (620,  None, OUT),  # outside 20 s -> OPEN + CLEAR
        (700,  None, OUT),
    ]  # fmt: skip
    _, alerts = visits(rows)
    assert summary(alerts) == [("open", 620, 600), ("clear", 620, 600)]
    opened, cleared = alerts
    assert opened.alert_id == cleared.alert_id == alert_id("dirty_truck", DEVICE, ms(600))
    assert {a.severity for a in alerts} == {Severity.WARNING}
    assert (opened.lon, opened.lat) == (LON + 600e-6, LAT)  # placed at the exit
    assert opened.evidence == {
        "site_id": SITE,
        "entered_ms": ms(100),
        "exit_ms": ms(600),
        "visit_s": 500.0,
        "max_wash_s": 30.0,
        "wash_min_dwell_s": 60.0,
    }


def test_a_wash_dwell_clears_the_truck_even_outside_the_polygon() -> None:
    inside: list[Row] = [
        (0, SITE, OUT),
        (300, SITE, WASH),
        (360, SITE, WASH),
        (400, None, OUT),
        (500, None, OUT),
    ]
    assert visits(inside)[1] == []
    at_gate: list[Row] = [
        (0, SITE, OUT),
        (300, None, WASH),
        (360, None, WASH),
        (400, None, OUT),
        (500, None, OUT),
    ]
    assert visits(at_gate)[1] == []


def test_exact_wash_dwell() -> None:
    rows: list[Row] = [
        (0, SITE, OUT),
        (300, SITE, WASH),
        (359.999, SITE, WASH),
        (400, None, OUT),
        (420, None, OUT),
    ]
    assert len(visits(rows)[1]) == 2
    rows[2] = (360, SITE, WASH)
    assert visits(rows)[1] == []


def test_a_wash_dwell_must_be_continuous() -> None:
    rows: list[Row] = [
        (0, SITE, OUT),
        (100, SITE, WASH),
        (140, SITE, WASH),
        (150, SITE, OUT),
        (160, SITE, WASH),
        (200, SITE, WASH),
        (300, None, OUT),
        (400, None, OUT),
    ]
    assert len(visits(rows)[1]) == 2  # 40 s + 40 s are not one 60 s wash


def test_gps_noise_at_the_fence_cancels_the_exit() -> None:
    rows: list[Row] = [
        (10.0 * i, SITE if i % 2 else None, OUT) for i in range(1, 200)
    ]  # 10 s out, 10 s in
    assert visits(rows)[1] == []


def test_driving_past_the_site_is_not_a_visit() -> None:
    rows: list[Row] = [
        (0, None, OUT),
        (10, SITE, OUT),
        (40, SITE, OUT),
        (69.999, None, OUT),
        (100, None, OUT),
    ]
    assert visits(rows)[1] == []  # entered at 10, out at 69.999: a 59.999 s visit
    rows[3] = (70, None, OUT)  # a 60 s visit is judged
    assert len(visits(rows)[1]) == 2


def test_exact_exit_confirmation() -> None:
    rows: list[Row] = [(0, SITE, OUT), (100, None, OUT), (119.999, None, OUT)]
    assert visits(rows)[1] == []
    assert summary(visits([*rows, (120, None, OUT)])[1]) == [
        ("open", 120, 100),
        ("clear", 120, 100),
    ]


def test_going_straight_into_a_neighbouring_site_judges_the_first_at_once() -> None:
    rows: list[Row] = [
        (0, SITE, OUT),
        (300, "SITE-2", OUT),
        (600, "SITE-2", WASH),
        (660, "SITE-2", WASH),
        (700, None, OUT),
        (800, None, OUT),
    ]
    _, alerts = visits(rows)
    assert summary(alerts) == [("open", 300, 300), ("clear", 300, 300)]
    assert alerts[0].evidence["site_id"] == SITE


def test_late_and_duplicate_events_are_ignored() -> None:
    rows: list[Row] = [
        (0, SITE, OUT),
        (200, None, OUT),
        (100, SITE, WASH),
        (200, SITE, OUT),
        (230, None, OUT),
    ]
    state, alerts = visits(rows)
    assert summary(alerts) == [("open", 230, 200), ("clear", 230, 200)]
    assert state == DirtyTruckState(last_ts_ms=ms(230))


def test_state_round_trips_mid_visit() -> None:
    rows: list[Row] = [
        (0, SITE, OUT),
        (100, SITE, WASH),
        (130, SITE, WASH),
        (150, None, OUT),
        (200, None, OUT),
    ]
    mid, _ = visits(rows[:3])
    assert mid.site_id == SITE and mid.wash_since_ms == ms(100) and mid.max_wash_s == 30.0
    assert json_round_trip(mid) == mid
    assert visits(rows[3:], state=json_round_trip(mid))[1] == visits(rows)[1]


rows_st = st.lists(
    st.tuples(st.integers(1, 90), st.sampled_from([None, None, SITE, "SITE-2"]), st.booleans()),
    min_size=1,
    max_size=60,
).map(from_gaps)


@given(rows_st)
def test_alerts_come_as_instant_open_clear_pairs(rows: list[Row]) -> None:
    _, alerts = visits(rows)
    check_grammar(alerts)
    pairs = list(zip(alerts[::2], alerts[1::2], strict=True))
    for opened, cleared in pairs:
        assert opened.ts_ms == cleared.ts_ms and opened.alert_id == cleared.alert_id
        assert opened.evidence["visit_s"] >= PARAMS.min_visit_s
        assert opened.evidence["max_wash_s"] < PARAMS.wash_min_dwell_s


@given(rows_st)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert visits(rows, restart=True) == visits(rows)


@given(rows_st, st.integers(0, 59))
def test_replaying_a_prefix_changes_nothing(rows: list[Row], cut: int) -> None:
    state, _ = visits(rows)
    assert visits(rows[: cut + 1], state=state) == (state, [])
