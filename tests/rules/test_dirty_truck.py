"""Dirty truck (车轮带泥): golden timelines of (t_s, site the truck is in, at a wash station) rows."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import dirty_truck
from rules.alerts import Alert, Severity, alert_id
from rules.dirty_truck import DirtyTruckParams, DirtyTruckState, HeldExit
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
    gap_s: float | None = None,
) -> tuple[DirtyTruckState, list[Alert]]:
    """Run the rule over a timeline of (t_s, site, at wash); ``gap_s``: the data-gap threshold."""

    def step(s: DirtyTruckState, row: tuple[VehiclePosition, str | None, bool]) -> tuple[DirtyTruckState, list[Alert]]:
        pos, site, wash = row
        return dirty_truck.step(s, pos, site, wash, params, subject=DEVICE, matter_code="08012", gap_s=gap_s)

    return run(step, state or DirtyTruckState(), [(truck(t), s, w) for t, s, w in rows], restart=restart)


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
    rows: list[Row] = [(10.0 * i, SITE if i % 2 else None, OUT) for i in range(1, 200)]  # 10 s out, 10 s in
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


# --- data gaps: an exit that a hidden wash could excuse waits for the blind-area upload ------------------------

GAP_S = 30.0  # 3 report intervals of 10 s
WAIT_MS = ms(dirty_truck.LATE_WAIT_S) - ms(0)
WHO = {"subject": DEVICE, "matter_code": "08012"}


def in_site(start: float, end: float) -> list[Row]:
    """Fixes every 10 s in the site from start to end."""
    return [(float(t), SITE, OUT) for t in range(int(start), int(end) + 1, 10)]


GAPPED: list[Row] = [*in_site(0, 100), (400, SITE, OUT), (410, None, OUT), (430, None, OUT)]
"""In the site 0-400 with no fix from 100 to 400 (a data gap); out at 410, confirmed at 430."""


def check(state: DirtyTruckState, t: float) -> tuple[DirtyTruckState, list[Alert]]:
    return dirty_truck.check(state, ms(t), PARAMS, **WHO)


def test_an_unwashed_exit_of_a_visit_with_a_data_gap_is_held_until_its_deadline() -> None:
    state, alerts = visits(GAPPED, gap_s=GAP_S)
    assert alerts == [] and state.site_id is None and state.last_ts_ms == ms(430)
    deadline = ms(400) + WAIT_MS
    assert state.held == (
        HeldExit(SITE, ms(0), ms(410), ms(430), LON + 410e-6, LAT, 0.0, ((ms(100), ms(400)),), deadline),
    )
    assert check(state, 400 + dirty_truck.LATE_WAIT_S - 0.001) == (state, [])
    idle, judged = check(state, 400 + dirty_truck.LATE_WAIT_S)
    assert idle == replace(state, held=()) and summary(judged) == [("open", 430, 410), ("clear", 430, 410)]
    assert judged[0].alert_id == alert_id("dirty_truck", DEVICE, ms(410))  # as if judged on time
    assert judged[0].evidence == {
        "site_id": SITE,
        "entered_ms": ms(0),
        "exit_ms": ms(410),
        "visit_s": 410.0,
        "max_wash_s": 0.0,
        "wash_min_dwell_s": 60.0,
        "data_gap_s": 300.0,
        "data_gaps": [[ms(100), ms(400)]],
        "held_until_ms": deadline,
    }
    later, alerts = visits([(3000, None, OUT)], state=state, gap_s=GAP_S)  # the truck's own fix past the deadline
    assert (later, summary(alerts)) == (DirtyTruckState(last_ts_ms=ms(3000)), summary(judged))


def test_what_counts_as_a_data_gap() -> None:
    exact = [*in_site(0, 100), (130, SITE, OUT), (140, None, OUT), (160, None, OUT)]
    assert summary(visits(exact, gap_s=GAP_S)[1]) == [("open", 160, 140), ("clear", 160, 140)]  # 30 s: no gap
    for rows in (
        [*in_site(0, 100), (130.001, SITE, OUT), (140, None, OUT), (160, None, OUT)],
        [*in_site(0, 100), (140, None, OUT), (200, None, OUT)],  # leaving: the gap is the exit's
    ):
        assert visits(rows, gap_s=GAP_S)[1] == [] and len(visits(rows, gap_s=GAP_S)[0].held) == 1
    outside = [(0, None, OUT), (100, None, OUT), *in_site(200, 300), (310, None, OUT), (330, None, OUT)]
    assert len(visits(outside, gap_s=GAP_S)[1]) == 2  # a gap before the visit is none of its business
    washed = [*in_site(0, 100), (400, SITE, WASH), (460, SITE, WASH), (470, None, OUT), (490, None, OUT)]
    assert visits(washed, gap_s=GAP_S) == (DirtyTruckState(last_ts_ms=ms(490)), [])  # washed: nothing to hold


def test_a_wash_proven_late_releases_the_held_exit() -> None:
    state, _ = visits(GAPPED, gap_s=GAP_S)
    gap, tolerance = (ms(100), ms(400)), ms(GAP_S) - ms(0)
    run, _ = visits([*in_site(0, 100), (200, SITE, WASH), (260, SITE, WASH)])
    assert run.washed
    late = dirty_truck.late_fix(state, run, PARAMS, gap=gap, filled=False, tolerance_ms=tolerance, **WHO)
    assert late == (replace(state, held=()), [])
    other = replace(run, entered_ms=ms(50))  # another visit's wash
    assert dirty_truck.late_fix(state, other, PARAMS, gap=gap, filled=False, tolerance_ms=tolerance, **WHO) == (
        state,
        [],
    )


def test_a_held_exit_is_judged_when_late_fixes_fill_every_gap_without_a_wash() -> None:
    rows: list[Row] = [
        *in_site(0, 100),
        *in_site(400, 500),
        (800, SITE, OUT),
        (810, None, OUT),
        (830, None, OUT),
    ]  # two gaps: 100-400, 500-800
    state, _ = visits(rows, gap_s=GAP_S)
    (exit_,) = state.held
    assert exit_.gaps == ((ms(100), ms(400)), (ms(500), ms(800))) and exit_.deadline_ms == ms(800) + WAIT_MS
    tolerance = ms(GAP_S) - ms(0)
    first, _ = visits([*in_site(0, 100), (390, SITE, OUT)])  # the first gap's run up to 390, unwashed
    second, _ = visits([*in_site(0, 100), *in_site(400, 500), (790, SITE, OUT)])

    def fix(live: DirtyTruckState, gap: tuple[float, float], filled: bool) -> tuple[DirtyTruckState, list[Alert]]:
        run = first if gap[0] < 500 else second
        return dirty_truck.late_fix(
            live, run, PARAMS, gap=(ms(gap[0]), ms(gap[1])), filled=filled, tolerance_ms=tolerance, **WHO
        )

    assert fix(state, (100, 400), filled=False) == (state, [])
    one, alerts = fix(state, (100, 400), filled=True)
    assert alerts == [] and one.held[0].gaps == ((ms(500), ms(800)),)
    assert fix(one, (100, 400), filled=True) == (one, [])  # the same gap again
    assert fix(one, (540, 800), filled=True) == (one, [])  # not this gap (40 s off)
    done, alerts = fix(one, (520, 800), filled=True)  # this gap, as the late code saw it (a fix at 520 untrusted)
    assert done == replace(state, held=()) and summary(alerts) == [("open", 830, 810), ("clear", 830, 810)]
    assert "data_gap_s" not in alerts[0].evidence


def test_a_late_run_still_in_a_wash_dwell_is_not_conclusive() -> None:
    state, _ = visits(GAPPED, gap_s=GAP_S)
    tolerance = ms(GAP_S) - ms(0)
    for wash_from, conclusive in ((330, False), (340, True)):  # the dwell could reach 60 s before 400, or not
        run, _ = visits([*in_site(0, 100), (wash_from, SITE, WASH), (370, SITE, WASH)])
        after, alerts = dirty_truck.late_fix(
            state, run, PARAMS, gap=(ms(100), ms(400)), filled=True, tolerance_ms=tolerance, **WHO
        )
        assert (after.held == (), len(alerts)) == ((True, 2) if conclusive else (False, 0))
    left, _ = visits([*in_site(0, 100), (300, None, OUT), (320, None, OUT), (370, None, OUT)])
    assert left.site_id is None  # the run saw the truck leave in the gap: what follows cannot wash this visit
    _, alerts = dirty_truck.late_fix(
        state, left, PARAMS, gap=(ms(100), ms(400)), filled=True, tolerance_ms=tolerance, **WHO
    )
    assert len(alerts) == 2


def test_held_exits_and_gaps_are_bounded() -> None:
    rows: list[Row] = []
    for i in range(dirty_truck.MAX_HELD + 1):  # visits of SITE with a gap, one after another
        t = 500 * i
        rows += [
            *((t + s, SITE, OUT) for s in range(0, 101, 10)),
            (t + 400, SITE, OUT),
            (t + 410, None, OUT),
            (t + 430, None, OUT),
        ]
    state, alerts = visits(rows, gap_s=GAP_S)
    assert summary(alerts) == [("open", 430, 410), ("clear", 430, 410)]  # the oldest, judged on what is known
    assert alerts[0].evidence["data_gap_s"] == 300.0
    assert [h.exit_ms for h in state.held] == [ms(500 * i + 410) for i in range(1, dirty_truck.MAX_HELD + 1)]
    many = [(100.0 * i, SITE, OUT) for i in range(dirty_truck.MAX_GAPS + 2)]  # 4 gaps
    visit, _ = visits(many, gap_s=GAP_S)
    assert visit.gaps == ((ms(0), ms(200)), (ms(200), ms(300)), (ms(300), ms(400)))  # the oldest two merged


def test_a_state_with_held_exits_round_trips_and_an_old_state_loads() -> None:
    state, _ = visits([*GAPPED, (500, SITE, OUT), (600, SITE, OUT)], gap_s=GAP_S)
    assert state.held and state.gaps == ((ms(500), ms(600)),)  # entered at 500 (idle before: no gap)
    assert json_round_trip(state) == state
    old = {
        k: v for k, v in DirtyTruckState(last_ts_ms=ms(5), site_id=SITE).to_dict().items() if k not in ("gaps", "held")
    }
    assert DirtyTruckState.from_dict(old) == DirtyTruckState(last_ts_ms=ms(5), site_id=SITE)


@given(rows_st)
def test_without_a_gap_over_the_threshold_nothing_changes(rows: list[Row]) -> None:
    assert visits(rows, gap_s=90.0) == visits(rows)  # rows are at most 90 s apart


@given(rows_st)
def test_holding_changes_when_an_exit_is_judged_never_what(rows: list[Row]) -> None:
    """With gaps (any row over 30 s after the last), every exit judged on time is judged by the deadline, the same."""
    state, alerts = visits(rows, gap_s=GAP_S)
    _, expired = check(state, rows[-1][0] + dirty_truck.LATE_WAIT_S + 100)
    plain = ("data_gap_s", "data_gaps", "held_until_ms")

    def key(a: Alert) -> tuple[int, str, str, int, dict[str, object]]:
        return (
            a.ts_ms,
            a.phase.value,
            a.alert_id,
            a.episode_start_ms,
            {k: v for k, v in a.evidence.items() if k not in plain},
        )

    assert sorted(map(key, alerts + expired)) == sorted(map(key, visits(rows)[1]))
