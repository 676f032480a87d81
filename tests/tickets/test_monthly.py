"""月考评 arithmetic (issue 10, part 4): months in the city's zone, online rates, 红黑榜, violation kinds."""

from __future__ import annotations

import pytest

from tickets.kpi import Offence
from tickets.lifecycle import Stage
from tickets.monthly import (
    BoardPolicy,
    Device,
    Month,
    MonthError,
    Traffic,
    company_rows,
    device_online,
    matter_rows,
    minute_weights,
    online_rows,
)

M0 = 1_796_000_000_000 // 60_000 * 60_000  # a minute boundary
MIN = 60_000


def full_minutes(n: int, per_minute: int = 10, start: int = M0) -> dict[int, int]:
    return {start + i * MIN: per_minute for i in range(n)}


def test_a_month_runs_from_local_midnight_of_the_first_to_the_next_first() -> None:
    nov = Month.parse("2026-11", "Asia/Shanghai")
    assert (nov.start_ms, nov.end_ms) == (1_793_462_400_000, 1_796_054_400_000)  # 2026-10-31/11-30 16:00 UTC
    dec = Month.parse(" 2026-12 ", "Asia/Shanghai")
    assert (dec.label, dec.start_ms, dec.end_ms - dec.start_ms) == ("2026-12", nov.end_ms, 31 * 86_400_000)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026/11", "26-11", "2026-1", "", "november", "1969-12"])
def test_a_month_that_is_not_yyyy_mm_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(MonthError, match="expected YYYY-MM"):
        Month.parse(text, "Asia/Shanghai")


def test_a_runs_edge_minutes_count_for_their_share_of_a_typical_minute() -> None:
    counts = {
        M0: 3,
        M0 + MIN: 6,
        M0 + 2 * MIN: 6,
        M0 + 3 * MIN: 6,
        M0 + 4 * MIN: 2,  # a run of 5
        M0 + 10 * MIN: 1,
        M0 + 11 * MIN: 1,
    }  # a run too short to have a middle: whole minutes
    minutes, weights = minute_weights(counts)
    assert list(minutes) == sorted(counts)
    assert list(weights.round(4)) == [0.5, 1.0, 1.0, 1.0, 0.3333, 1.0, 1.0]


def test_a_periodic_device_is_graded_on_received_over_expected_capped_at_one() -> None:
    traffic = Traffic({"gps-1": 45, "gps-2": 500, "fill-1": 10}, full_minutes(10))  # 600 s up
    got = {
        d.device_id: d
        for d in device_online(
            [
                Device("gps-1", "vehicle", "A", 10.0),
                Device("gps-2", "vehicle", "A", 10.0),
                Device("gps-3", "vehicle", "B", 10.0),
                Device("fill-1", "facility", "S", 60.0),
            ],
            traffic,
        )
    }
    assert (got["gps-1"].expected, got["gps-1"].received, got["gps-1"].rate) == (60.0, 45, 0.75)
    assert got["gps-2"].rate == 1.0  # a chatty terminal cannot make up for a silent one
    assert (got["gps-3"].received, got["gps-3"].rate) == (0, 0.0)  # never heard of: offline, not unknown
    assert got["fill-1"].rate == 1.0


def test_a_camera_is_graded_on_the_time_its_status_said_online() -> None:
    up = full_minutes(10)
    statuses = {
        "cam-1": [(M0 - 5 * MIN, True)],  # online since before the range (the lookback row)
        "cam-2": [(M0, True), (M0 + 5 * MIN, False)],  # went away halfway
        "cam-3": [(M0 + 8 * MIN, True)],
    }
    cams = [Device(c, "camera", "城市", None) for c in ("cam-1", "cam-2", "cam-3", "cam-4")]
    got = {d.device_id: d.rate for d in device_online(cams, Traffic({"cam-2": 3}, up, statuses))}
    assert got == {"cam-1": 1.0, "cam-2": 0.5, "cam-3": 0.2, "cam-4": 0.0}


def test_online_per_owner_caps_each_device_before_summing() -> None:
    devices = device_online(
        [Device("a", "vehicle", "A", 10.0), Device("b", "vehicle", "A", 10.0)],
        Traffic({"a": 120, "b": 0}, full_minutes(10)),
    )
    (row,) = online_rows(devices, threshold=0.9)
    assert (row.owner, row.devices, row.expected, row.received, row.rate, row.below) == ("A", 2, 120.0, 120, 0.5, 1)


def offence(company: str, stage: Stage, matter: str = "08101", severity: str = "major") -> Offence:
    return Offence(company, severity, matter, M0, stage)


POINTS = {"info": 1, "warning": 2, "major": 3, "critical": 5}


def test_the_boards_count_confirmed_cases_per_vehicle_and_put_suspended_companies_on_the_black_board() -> None:
    offences = [
        offence("甲", Stage.REGISTERED),
        offence("甲", Stage.CLOSED),  # 6 points, 2 trucks: 3.0
        offence("乙", Stage.DISCOVERED),
        offence("乙", Stage.VOID),  # unconfirmed and voided: nothing
        offence("丙", Stage.DISPATCHED, matter="06042"),  # the matter's own points: 2, 4 trucks: 0.5
        offence("丁", Stage.REGISTERED, severity="critical"),
    ]  # no vehicles in the inventory: per 1
    fleet = {"甲": 2, "乙": 3, "丙": 4, "戊": 1}
    online = {"甲": 1.0, "乙": 0.99, "丙": 0.5, "戊": 0.8}
    rows = company_rows(
        offences, fleet, online, frozenset({"戊"}), POINTS, {"06042": 2}, BoardPolicy(red_min_online=0.95, black_size=2)
    )
    table = [(r.rank, r.company, r.cases, r.points, r.points_per_vehicle, r.board) for r in rows]
    assert table == [
        (1, "乙", 0, 0, 0.0, "红榜"),
        (2, "戊", 0, 0, 0.0, "黑榜"),  # suspended: black whatever it scores
        (3, "丙", 1, 2, 0.5, ""),
        (4, "甲", 2, 6, 3.0, "黑榜"),
        (5, "丁", 1, 5, 5.0, "黑榜"),
    ]
    assert [r.suspended for r in rows] == [False, True, False, False, False]


def test_a_clean_company_with_poorly_online_terminals_is_not_on_the_red_board() -> None:
    rows = company_rows([], {"甲": 2, "乙": 2}, {"甲": 0.94, "乙": None}, frozenset(), POINTS, {}, BoardPolicy())
    assert {r.company: r.board for r in rows} == {"甲": "", "乙": "红榜"}  # None: no time series to judge by


def test_violation_kinds_are_ranked_by_cases_with_confirmed_and_voided_counts() -> None:
    counts = [
        ("08101", "enforcement", "registered", 2),
        ("08101", "enforcement", "void", 1),
        ("08101", "enforcement", "discovered", 1),
        ("06042", "enforcement", "closed", 1),
        ("03101", "maintenance", "dispatched", 5),
    ]
    rows = matter_rows(counts, {"08101": "线路偏移", "03101": "终端离线"})
    assert [(r.code, r.name, r.queue, r.cases, r.confirmed, r.voided) for r in rows] == [
        ("03101", "终端离线", "maintenance", 5, 5, 0),
        ("08101", "线路偏移", "enforcement", 4, 2, 1),
        ("06042", "06042", "enforcement", 1, 1, 0),
    ]
