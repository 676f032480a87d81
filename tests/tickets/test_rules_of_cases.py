"""Escalation (督办) by working time overdue, grouping into one case, verification by evidence, KPIs and scores."""

from __future__ import annotations

import pytest

from rules.geometry import distance_m
from tests.tickets.conftest import at
from tickets.config import TicketConfig
from tickets.escalation import due, due_level, overdue_ms
from tickets.grouping import CaseRef, Decision, Evidence, GroupingPolicy, decide
from tickets.kpi import CaseFacts, Offence, company_scores, compute, stage_spans
from tickets.lifecycle import Action, Case, Stage
from tickets.verification import Dwell, Fix, dwells, fill_drop_after_dwell, pm10_below

H = 3_600_000


def dispatched(deadline: str, level: int = 0) -> Case:
    return Case(
        1,
        Stage.DISPATCHED,
        "06042",
        "环卫所",
        at("2026-03-02 09:00"),
        deadline_ms=at(deadline),
        supervision_level=level,
    )


@pytest.mark.parametrize(
    ("now", "level"),
    [
        ("2026-03-06 11:00", 0),  # before the deadline
        ("2026-03-06 11:01", 1),  # just overdue: level 1 at once
        ("2026-03-06 16:29", 1),  # 3.98 working hours overdue (lunch does not count)
        ("2026-03-06 16:31", 2),  # 4 working hours
        ("2026-03-09 11:00", 2),  # Monday: 6.5 + 2.5 = 9 working hours, weekend not counted
        ("2026-03-10 11:00", 3),  # 16.5 working hours >= 2 working days (15 h)
    ],
)
def test_levels_rise_with_working_time_overdue(config: TicketConfig, now: str, level: int) -> None:
    case = dispatched("2026-03-06 11:00")  # a Friday
    assert due_level(case, at(now), config.levels, config.policy.calendar) == level


def test_due_gives_one_command_per_case_below_its_level(config: TicketConfig) -> None:
    cal, now = config.policy.calendar, at("2026-03-06 16:40")
    cases = [dispatched("2026-03-06 11:00"), dispatched("2026-03-06 11:00", level=2), dispatched("2026-03-06 17:10")]
    ((case, command),) = due(cases, now, config.levels, cal)
    assert (case.supervision_level, command.action, command.level) == (0, Action.SUPERVISE, 2)
    assert "二级督办" in (command.reason or "")
    assert overdue_ms(cases[2], now, cal) == 0
    closed = Case(2, Stage.CLOSED, "06042", None, 0, deadline_ms=at("2026-03-01 09:00"))
    assert overdue_ms(closed, now, cal) == 0


POLICY = GroupingPolicy(radius_m=150, window_ms=2 * H, reopen_within_ms=7 * 24 * H, link_within_ms=30 * 24 * H)
T0 = at("2026-03-02 10:00")


def ref(
    case_id: int,
    stage: Stage = Stage.DISPATCHED,
    subject: str = "fill-s01",
    lon: float = 114.3,
    last: int = T0,
    closed: int | None = None,
    plates: frozenset[str] = frozenset(),
) -> CaseRef:
    return CaseRef(case_id, stage, "06042", frozenset({subject}), plates, lon, 30.59, last, closed)


def ev(
    subject: str = "fill-s01",
    lon: float = 114.3,
    ts: int = T0 + H,
    plate: str | None = None,
    alert_id: str = "a1",
    matter: str = "06042",
) -> Evidence:
    return Evidence(alert_id, matter, subject, plate, lon, 30.59, ts)


@pytest.mark.parametrize(
    ("evidence", "cases", "decision"),
    [
        (ev(), [], Decision("open")),
        (ev(), [ref(1)], Decision("attach", 1)),  # same subject, within the window
        (ev(subject="cam-7", lon=114.3010), [ref(1)], Decision("attach", 1)),  # another source ~96 m away
        (ev(subject="cam-7", lon=114.3030), [ref(1)], Decision("open")),  # ~290 m away: another place
        (
            ev(subject="cam-7", plate="鄂A·D3101", lon=114.35),
            [ref(1, plates=frozenset({"鄂A·D3101"}))],
            Decision("attach", 1),
        ),  # same plate
        (ev(matter="08011"), [ref(1)], Decision("open")),  # another matter
        (ev(ts=T0 + 3 * H), [ref(1)], Decision("open_linked", 1)),  # stale open case: new, linked
        (ev(ts=T0 + 24 * H), [ref(1, Stage.CLOSED, closed=T0 + 2 * H)], Decision("reopen", 1)),
        (ev(ts=T0 + 10 * 24 * H), [ref(1, Stage.CLOSED, closed=T0 + 2 * H)], Decision("open_linked", 1)),
        (ev(ts=T0 + 40 * 24 * H), [ref(1, Stage.CLOSED, closed=T0 + 2 * H)], Decision("open")),
        (ev(), [ref(1, Stage.VOID)], Decision("open")),
    ],
)
def test_grouping_decisions(evidence: Evidence, cases: list[CaseRef], decision: Decision) -> None:
    assert decide(evidence, cases, POLICY) == decision


A, B = "鄂A·D3101", "鄂A·D3102"


def truck_case(
    case_id: int = 1,
    plate: str = A,
    stage: Stage = Stage.DISPATCHED,
    last: int = T0,
    active: bool = False,
    closed: int | None = None,
) -> CaseRef:
    return CaseRef(
        case_id,
        stage,
        "08101",
        frozenset({"gps-m01"}),
        frozenset({plate}),
        114.3,
        30.59,
        last,
        closed,
        violation_active=active,
    )


def place_case(case_id: int = 1, place: str = "西园路压缩站") -> CaseRef:
    return CaseRef(
        case_id, Stage.DISPATCHED, "06042", frozenset({"fill-s01"}), frozenset(), 114.3, 30.59, T0, None, place=place
    )


@pytest.mark.parametrize(
    ("evidence", "cases", "decision"),
    [
        (ev("gps-m02", plate=B, matter="08101", ts=T0), [truck_case()], Decision("open")),  # another truck, same spot
        (ev("gps-m01", plate=A, matter="08101", ts=T0 + 5 * 60_000), [truck_case()], Decision("attach", 1)),
        (ev("cam-2", plate=A, matter="08101", lon=114.4, ts=T0), [truck_case()], Decision("attach", 1)),  # by plate
        (ev("cam-2", matter="08101", ts=T0), [truck_case()], Decision("open")),  # a plate-less sighting is no truck's
        (ev("gps-m01", plate=A, matter="08101", ts=T0 + 3 * H), [truck_case()], Decision("open_linked", 1)),  # later
        (ev("gps-m01", plate=A, matter="08101", ts=T0 + 3 * H), [truck_case(active=True)], Decision("attach", 1)),  # on
        (
            ev("gps-m01", plate=A, matter="08101", ts=T0 + 24 * H),
            [truck_case(stage=Stage.CLOSED, closed=T0 + H)],
            Decision("open_linked", 1),
        ),  # a truck's recurrence is a new violation, never a reopened case
        (
            Evidence("a1", "06042", "fill-s02", None, 114.3005, 30.59, T0, "北港路压缩站"),
            [place_case()],
            Decision("open"),
        ),  # two stations 48 m apart
        (Evidence("a1", "06042", "cam-1", None, 114.3005, 30.59, T0), [place_case()], Decision("attach", 1)),
    ],
)
def test_only_the_same_real_world_violation_shares_a_case(
    evidence: Evidence, cases: list[CaseRef], decision: Decision
) -> None:
    assert decide(evidence, cases, POLICY) == decision


def test_an_episode_stays_with_its_case_and_distances_are_metres() -> None:
    held = CaseRef(
        2,
        Stage.DISPATCHED,
        "06042",
        frozenset({"x"}),
        frozenset(),
        114.5,
        30.59,
        T0 - 20 * 24 * H,
        None,
        frozenset({"a1"}),
    )  # far away and stale, but it holds the alert's episode
    assert decide(ev(), [ref(1), held], POLICY) == Decision("attach", 2)
    assert distance_m(114.3, 30.59, 114.301, 30.59) == pytest.approx(95.8, abs=0.5)


def test_truck_dwell_then_fill_drop_verifies_an_overflow_case() -> None:
    t = at("2026-03-02 10:00")
    track = [
        Fix(t + i * 10_000, 114.3 + (0.003 if i < 3 or i > 12 else 0.0), 30.59, 0.0 if 3 <= i <= 12 else 25.0)
        for i in range(16)
    ]
    (dwell,) = dwells("gps-g01", track, 114.3, 30.59, 60, 60_000)
    assert (dwell.start_ms, dwell.end_ms) == (t + 30_000, t + 120_000)
    verdict = fill_drop_after_dwell(t - 60_000, t + 150_000, 0.35, [dwell])
    assert verdict is not None and verdict.detail["vehicle"] == "gps-g01" and "满溢消除" in verdict.reason
    assert fill_drop_after_dwell(t - 60_000, None, None, [dwell]) is None  # fill has not dropped
    assert fill_drop_after_dwell(t + 60_000, t + 150_000, 0.35, [dwell]) is None  # dwell began before dispatch
    assert fill_drop_after_dwell(t - 60_000, t + 3 * H, 0.35, [Dwell("g", t, t + 60_000)]) is None  # unrelated


def test_an_hour_under_the_pm10_limit_verifies_a_dust_case() -> None:
    t = at("2026-03-02 10:00")
    readings = [(t + i * 60_000, 180.0 if i < 5 else 90.0) for i in range(70)]
    verdict = pm10_below(t, readings, 150, H)
    assert verdict is not None and verdict.detail["from_ms"] == t + 5 * 60_000
    assert pm10_below(t, readings[:60], 150, H) is None  # only 55 minutes under
    gap = readings[:30] + readings[50:]  # a 20-minute gap in readings breaks the run
    assert pm10_below(t, gap, 150, H) is None


def test_kpis_and_company_scores(config: TicketConfig) -> None:
    cal = config.policy.calendar
    spans = stage_spans(
        [
            (at("2026-03-02 09:00"), Stage.DISCOVERED),
            (at("2026-03-02 10:00"), Stage.ACCEPTED),
            (at("2026-03-02 14:00"), Stage.REGISTERED),
        ],
        cal,
    )
    assert spans == ((Stage.DISCOVERED, H), (Stage.ACCEPTED, int(2.5 * H)))
    facts = [
        CaseFacts(1, Stage.CLOSED, "A", "co1", True, True, False, spans),
        CaseFacts(2, Stage.HANDLED, "A", "co1", True, False, False),
        CaseFacts(3, Stage.DISPATCHED, "B", "co2", True, None, True),
        CaseFacts(4, Stage.VOID, "B", None, False, None, False),
    ]
    k = compute(facts)
    assert (k.total, k.dispatched, k.handled, k.on_time, k.registered, k.closed, k.overdue) == (3, 3, 2, 1, 3, 1, 1)
    assert (k.handled_rate, k.on_time_rate, k.closed_rate) == (round(2 / 3, 4), 0.5, round(1 / 3, 4))
    assert k.mean_stage_hours == {"accepted": 2.5, "discovered": 1.0}
    now = at("2026-03-10 09:00")
    offences = [Offence("顺达", "major", "08011", now - 86_400_000, Stage.CLOSED)] * 4 + [
        Offence("楚运", "warning", "06042", now, Stage.DISPATCHED),
        Offence("楚运", "critical", "08011", now, Stage.VOID),
        Offence("楚运", "critical", "08011", now - 100 * 86_400_000, Stage.CLOSED),
    ]
    scores = company_scores(offences, now, 90, config.scoring.points, {"06042": 2}, config.scoring.suspend_at)
    assert [(s.company, s.points, s.cases, s.over_threshold) for s in scores] == [
        ("顺达", 12, 4, True),
        ("楚运", 2, 1, False),
    ]
