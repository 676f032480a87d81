"""Collection service (日产日清), point side: golden timelines of service facts and watermark ticks.

T0 (timeline second 0) is 2026-01-01 08:00 in Asia/Shanghai; the point's deadline is 09:00.
"""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from hypothesis import given
from hypothesis import strategies as st

from devices.inventory import CollectionPoint
from rules import collection_point
from rules.alerts import Alert, Severity, alert_id
from rules.collection_dwell import Served
from rules.collection_point import PointState, deadline_ms
from tests.rules.timelines import check_grammar, json_round_trip, ms, summary

TZ = "Asia/Shanghai"
POINT = CollectionPoint(point_id="CP-1", name="Market St", lon=114.3, lat=30.6, deadline=time(9, 0), served_by=["GT-7"])
MIDNIGHT = POINT.model_copy(update={"deadline": time(0, 0)})  # deadline_ms of it: the day's start
H, DAY = 3600, 86400
DEADLINE_S = H  # 09:00 local on the first day

Row = tuple[Literal["served", "tick"], float]  # a service fact at t_s (arrival); a watermark at t_s


def point(rows: list[Row], *, state: PointState | None = None, restart: bool = False) -> tuple[PointState, list[Alert]]:
    """Run service facts and watermark ticks through the point's rule."""
    state = state or PointState()
    alerts: list[Alert] = []
    for kind, t in rows:
        if restart:
            state = json_round_trip(state)
        if kind == "served":
            fact = Served("CP-1", "GT-7", ms(t), 30.0)
            state, out = collection_point.served(state, fact, POINT, tz=TZ, matter_code="06010")
        else:
            state, out = collection_point.check(state, ms(t), POINT, TZ, matter_code="06010")
        alerts += out
    return state, alerts


def graded(alerts: list[Alert]) -> list[tuple[str, float, float, str]]:
    """Return the summary with each alert's severity."""
    return [(*s, a.severity.value) for s, a in zip(summary(alerts), alerts, strict=True)]


def test_served_before_the_deadline_is_fine() -> None:
    assert point([("tick", 0), ("served", 1800), ("tick", DEADLINE_S), ("tick", 10 * H)])[1] == []


def test_missed_deadline_opens_and_a_later_service_clears() -> None:
    rows: list[Row] = [
        ("tick", DEADLINE_S - 0.001),  # 08:59:59.999: not yet
        ("tick", DEADLINE_S),  # 09:00 unserved -> OPEN
        ("tick", 2 * H),  # once per day
        ("served", 3 * H),  # 11:00 -> CLEAR (proof of service)
        ("tick", 4 * H),
    ]
    _, alerts = point(rows)
    assert graded(alerts) == [
        ("open", DEADLINE_S, DEADLINE_S, "warning"),
        ("clear", 3 * H, DEADLINE_S, "warning"),
    ]
    assert alerts[0].alert_id == alerts[1].alert_id == alert_id("missed_collection", "CP-1", ms(DEADLINE_S))
    assert (alerts[0].lon, alerts[0].lat, alerts[0].subject) == (114.3, 30.6, "CP-1")
    assert alerts[0].evidence == {
        "point_id": "CP-1",
        "deadline": "09:00",
        "missed_day": "2026-01-01",
        "missed_days": 1,
        "last_served_ms": None,
        "last_served_by": None,
    }
    assert alerts[1].evidence.items() >= {"served_ms": ms(3 * H), "vehicle_id": "GT-7", "served_on_time": False}.items()


def test_days_missed_in_a_row_are_one_escalating_episode() -> None:
    rows: list[Row] = [
        ("tick", 0),  # watching from 08:00
        ("tick", DEADLINE_S),  # day 1 missed -> OPEN
        ("tick", DAY + DEADLINE_S - 1),
        ("tick", DAY + DEADLINE_S),  # day 2 missed -> UPDATE, MAJOR
        ("served", 2 * DAY - 1800),  # day 3, 07:30 -> CLEAR
        ("tick", 2 * DAY + DEADLINE_S),  # day 3 was served before its deadline
    ]
    _, alerts = point(rows)
    assert graded(alerts) == [
        ("open", DEADLINE_S, DEADLINE_S, "warning"),
        ("update", DAY + DEADLINE_S, DEADLINE_S, "major"),
        ("clear", 2 * DAY - 1800, DEADLINE_S, "major"),
    ]
    assert alerts[1].evidence["missed_days"] == 2 and alerts[1].evidence["missed_day"] == "2026-01-02"


def test_service_from_an_earlier_day_does_not_clear() -> None:
    # served Jan 1 07:00; Jan 2 missed; a fact of Jan 1 18:00 arrives late: not proof for Jan 2
    _, alerts = point([("tick", -2 * H), ("served", -H), ("tick", DAY + DEADLINE_S), ("served", 10 * H)])
    assert summary(alerts) == [("open", DAY + DEADLINE_S, DAY + DEADLINE_S)]
    assert alerts[0].evidence["last_served_ms"] == ms(-H)


def test_a_fact_delayed_past_the_tick_proves_on_time_service() -> None:
    _, alerts = point(
        [("tick", 0), ("tick", DEADLINE_S + 60), ("served", DEADLINE_S - 600)]
    )  # 08:50 arrival, reported late
    assert summary(alerts) == [
        ("open", DEADLINE_S + 60, DEADLINE_S),
        ("clear", DEADLINE_S + 60, DEADLINE_S),
    ]
    assert alerts[1].evidence["served_on_time"] is True


def test_old_watermarks_are_ignored() -> None:
    state, alerts = point([("tick", 0), ("tick", 2 * H), ("tick", DEADLINE_S), ("tick", 2 * H)])
    assert summary(alerts) == [("open", 2 * H, DEADLINE_S)]
    assert state.watermark_ms == ms(2 * H)


def test_the_day_is_the_local_day() -> None:
    # 23:30 local on Jan 1 is 15:30Z: served "that day" in Shanghai, judged against Jan 2 09:00 next
    rows: list[Row] = [("tick", 0), ("tick", DEADLINE_S), ("served", 15.5 * H), ("tick", DAY + DEADLINE_S)]
    assert summary(point(rows)[1]) == [
        ("open", DEADLINE_S, DEADLINE_S),
        ("clear", 15.5 * H, DEADLINE_S),
        ("open", DAY + DEADLINE_S, DAY + DEADLINE_S),
    ]


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [("tick", 0), ("tick", DEADLINE_S), ("tick", DAY + DEADLINE_S), ("served", DAY + 2 * H)]
    mid, _ = point(rows[:2])
    assert mid.missed_day == "2026-01-01" and mid.last_alert_ms == ms(DEADLINE_S)
    assert json_round_trip(mid) == mid
    assert point(rows[2:], state=json_round_trip(mid))[1] == point(rows)[1][1:]


rows_st = st.lists(
    st.tuples(
        st.sampled_from(["served", "tick", "tick"]),
        st.integers(0, 4 * DAY // 600).map(lambda n: n * 600),
    ),
    max_size=40,
)


@given(rows_st)
def test_alerts_form_episodes_and_each_day_is_judged_once(rows: list[Row]) -> None:
    _, alerts = point(rows)
    check_grammar(alerts)
    judged = [a.evidence["missed_day"] for a in alerts if a.phase.value in ("open", "update")]
    assert len(judged) == len(set(judged))
    for a in alerts:
        assert a.severity is (Severity.MAJOR if a.evidence["missed_days"] >= 2 else Severity.WARNING)


@given(rows_st)
def test_a_day_is_judged_missed_only_if_no_service_before_its_deadline_came_first(rows: list[Row]) -> None:
    state, arrived = PointState(), []
    for i in range(len(rows)):
        state, alerts = point(rows[i : i + 1], state=state)
        kind, t = rows[i]
        if kind == "served":
            arrived.append(ms(t))
        for a in alerts:
            if a.phase.value in ("open", "update"):
                day = date.fromisoformat(a.evidence["missed_day"])
                start, due = deadline_ms(day, MIDNIGHT, TZ), deadline_ms(day, POINT, TZ)
                assert not [ts for ts in arrived if start <= ts < due]


def in_time_order(rows: list[Row]) -> list[Row]:
    """The same services and ticks, each service arriving just before the first tick at or after it."""
    ticks = sorted({t for kind, t in rows if kind == "tick"})
    services = sorted(t for kind, t in rows if kind == "served")
    out: list[Row] = []
    for tick in ticks:
        out += [("served", t) for t in services if out_of(out) < t <= tick]
        out.append(("tick", tick))
    return out + [("served", t) for t in services if t > out_of(out)]


def out_of(rows: list[Row]) -> float:
    """Return the last tick among rows (minus infinity if none)."""
    return max((t for kind, t in rows if kind == "tick"), default=float("-inf"))


@given(rows_st)
def test_the_order_service_facts_arrive_in_does_not_change_the_alerts(rows: list[Row]) -> None:
    services = [r for r in rows if r[0] == "served"]
    ticks = sorted({r for r in rows if r[0] == "tick"}, key=lambda r: r[1])
    early = point(services + ticks)  # every fact ahead of the watermark (the stack's facts partition)
    assert early == point(in_time_order(rows))
    assert early == point(list(reversed(services)) + ticks)


def test_a_service_of_the_next_day_arriving_first_does_not_hide_a_missed_deadline() -> None:
    # the truck skipped the point on day 1 and came on day 2 at 08:10; its fact overtook the watermark
    rows: list[Row] = [("tick", 0), ("served", DAY + 600), ("tick", DEADLINE_S + 60), ("tick", DAY + 2 * H)]
    assert summary(point(rows)[1]) == [
        ("open", DEADLINE_S + 60, DEADLINE_S),
        ("clear", DAY + 600, DEADLINE_S),
    ]


def test_the_first_watermark_judges_no_deadline_it_did_not_watch() -> None:
    state, alerts = point([("tick", DEADLINE_S + 60)])  # started at 09:01: that morning was not watched
    assert alerts == [] and state.missed_day is None
    assert summary(point([("tick", DEADLINE_S + 60), ("tick", DAY + DEADLINE_S)])[1]) == [
        ("open", DAY + DEADLINE_S, DAY + DEADLINE_S)
    ]


def test_a_long_jump_judges_at_most_a_week() -> None:
    _, alerts = point([("tick", 0), ("tick", 30 * DAY + DEADLINE_S)])
    assert [a.evidence["missed_days"] for a in alerts] == list(range(1, collection_point.MAX_DAYS_JUDGED + 1))


def test_services_ahead_of_the_watermark_are_bounded() -> None:
    rows: list[Row] = [("tick", 0)] + [("served", 60 * n) for n in range(1, 200)]
    state, _ = point(rows)
    assert len(state.pending) == collection_point.MAX_PENDING
    assert json_round_trip(state) == state


@given(rows_st)
def test_reloading_state_before_every_call_changes_nothing(rows: list[Row]) -> None:
    assert point(rows, restart=True) == point(rows)


def test_a_late_deadline_is_judged_when_the_watermark_jumps_over_midnight() -> None:
    from datetime import date
    from datetime import time as dtime

    from devices.inventory import CollectionPoint
    from rules.collection_point import PointState, check, deadline_ms

    point = CollectionPoint(point_id="P9", name="p", lon=114.3, lat=30.59, deadline=dtime(23, 59), served_by=["G1"])
    due = deadline_ms(date(2026, 11, 16), point, "Asia/Shanghai")
    state, alerts = check(PointState(), due - 120_000, point, "Asia/Shanghai", matter_code="06010")
    assert alerts == []
    state, alerts = check(state, due + 180_000, point, "Asia/Shanghai", matter_code="06010")  # 00:02 next day
    assert [(a.phase.value, a.evidence["missed_day"], a.episode_start_ms) for a in alerts] == [
        ("open", "2026-11-16", due)
    ]
