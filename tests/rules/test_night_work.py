"""Night work without a permit: golden nights in Asia/Shanghai local time, permit calendars, properties.

Rows are ``("D HH:MM[:SS]", dBA)`` on day D of January 2026 (1 January is a Thursday). Activity
is a 20-minute Leq >= 50 dB(A) (the noise rule's windows); the night is 22:00-06:00.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import SiteReading
from devices.schedules import Schedule
from rules import night_work
from rules.alerts import Alert, alert_id
from rules.night_work import NightWorkState, night_of, permitted
from rules.noise import NoiseParams
from tests.rules.test_noise import at, label, minutes
from tests.rules.timelines import check_grammar, from_gaps, json_round_trip, ms, run

SITE = "SITE-01"
TZ = "Asia/Shanghai"
PARAMS = NoiseParams()
NIGHT = PARAMS.night
Row = tuple[str, float]


def schedule(**fields: object) -> Schedule:
    return Schedule.model_validate(fields)


def site(t_s: float, dba: float) -> SiteReading:
    return SiteReading(device_id=SITE, ts_ms=ms(t_s), seq=0, pm10_ugm3=30.0, noise_dba=dba)


def work(
    rows: list[Row],
    schedules: list[Schedule] | None = None,
    *,
    state: NightWorkState | None = None,
    restart: bool = False,
) -> tuple[NightWorkState, list[Alert]]:
    """Run the rule over ("D HH:MM[:SS]", dBA) rows for a site with these night-work permits."""

    def step(s: NightWorkState, r: SiteReading) -> tuple[NightWorkState, list[Alert]]:
        return night_work.step(
            s, r, PARAMS, schedules=schedules or [], subject=SITE, matter_code="08001", lon=114.3, lat=30.6, tz=TZ
        )

    return run(step, state or NightWorkState(), [site(at(t), v) for t, v in rows], restart=restart)


def told(alerts: list[Alert]) -> list[tuple[str, str, str, str | None]]:
    """Return (phase, at, episode start, clear reason) per alert, in local time."""
    return [(a.phase.value, label(a.ts_ms), label(a.episode_start_ms), a.evidence.get("reason")) for a in alerts]


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(TZ))


def test_the_night_counts_for_the_date_it_starts_on() -> None:
    assert night_of(shanghai("2026-01-01 21:59:59"), NIGHT) is None
    assert str(night_of(shanghai("2026-01-01 22:00"), NIGHT)) == "2026-01-01"
    assert str(night_of(shanghai("2026-01-02 05:59:59"), NIGHT)) == "2026-01-01"
    assert night_of(shanghai("2026-01-02 06:00"), NIGHT) is None


def test_activity_without_a_permit_opens_and_quiet_clears() -> None:
    rows = [*minutes("1 21:40", "1 22:40", 60), *minutes("1 22:40", "1 23:00", 45), ("1 23:00", 45)]
    _, alerts = work(rows)
    assert told(alerts) == [
        ("open", "1 22:20:00", "1 22:00:00", None),  # 21:40-22:00 is day: not judged
        ("clear", "1 23:00:00", "1 22:00:00", "activity_stopped"),
    ]
    assert alerts[0].alert_id == alert_id("night_work", SITE, ms(at("1 22:00")))
    assert alerts[0].evidence["night"] == "2026-01-01" and alerts[0].evidence["night_work_permits"] == 0
    assert alerts[0].severity.value == "major" and alerts[0].matter_code == "08001"


def test_activity_threshold_is_inclusive() -> None:
    _, quiet = work([*minutes("1 23:00", "1 23:20", 49.9), ("1 23:20", 30)])
    _, busy = work([*minutes("1 23:00", "1 23:20", 50.0), ("1 23:20", 30)])
    assert quiet == []
    assert told(busy)[0][:2] == ("open", "1 23:20:00")


def test_work_through_the_night_clears_at_06_00() -> None:
    rows = [*minutes("2 05:20", "2 06:00", 65), ("2 06:00:00", 65), ("2 06:05", 65)]
    _, alerts = work(rows)
    assert told(alerts) == [
        ("open", "2 05:40:00", "2 05:20:00", None),
        ("clear", "2 06:00:00", "2 05:20:00", "night_over"),
    ]
    assert alerts[0].evidence["night"] == "2026-01-01"


def test_the_last_night_window_opens_and_clears_at_once() -> None:
    _, alerts = work([*minutes("2 05:40", "2 06:00", 65), ("2 06:00:30", 40)])
    assert told(alerts) == [
        ("open", "2 06:00:30", "2 05:40:00", None),
        ("clear", "2 06:00:30", "2 05:40:00", "night_over"),
    ]


def test_day_activity_is_not_night_work() -> None:
    _, alerts = work([*minutes("1 10:00", "1 12:00", 80), ("1 12:00", 80)])
    assert alerts == []


def test_a_whole_night_permit_by_date_covers_the_morning_after() -> None:
    permit = schedule(dates=[{"start": "2026-01-01", "end": "2026-01-01"}])
    rows = [*minutes("1 23:00", "1 23:20", 60), *minutes("2 02:00", "2 02:20", 60), *minutes("2 23:00", "2 23:40", 60)]
    _, alerts = work(rows, [permit])
    assert told(alerts) == [("open", "2 23:20:00", "2 23:00:00", None)]  # only the night of 2 Jan
    assert alerts[0].evidence["night_work_permits"] == 1


def test_a_weekday_permit_with_a_wrapping_window_counts_for_the_start_day() -> None:
    thursdays = schedule(windows=["22:00-06:00"], weekdays=[4])
    assert permitted([thursdays], shanghai("2026-01-02 02:00"), NIGHT)  # Friday 02:00: Thursday's night
    assert not permitted([thursdays], shanghai("2026-01-02 23:00"), NIGHT)  # Friday's own night
    _, alerts = work([*minutes("2 02:00", "2 02:20", 60), *minutes("2 22:00", "2 22:40", 60)], [thursdays])
    assert told(alerts) == [("open", "2 22:20:00", "2 22:00:00", None)]


def test_a_partial_permit_window() -> None:
    until_midnight = schedule(windows=["22:00-00:00"])
    rows = [*minutes("1 23:20", "2 00:40", 60), ("2 00:40", 60)]
    _, alerts = work(rows, [until_midnight])
    assert told(alerts) == [("open", "2 00:20:00", "2 00:00:00", None)]


def test_a_permit_that_starts_later_clears_the_episode() -> None:
    from_23 = schedule(windows=["23:00-06:00"])
    rows = [*minutes("1 22:20", "1 23:20", 60), ("1 23:20", 60)]
    _, alerts = work(rows, [from_23])
    assert told(alerts) == [
        ("open", "1 22:40:00", "1 22:20:00", None),
        ("clear", "1 23:20:00", "1 22:20:00", "permitted"),
    ]


def test_late_and_duplicate_readings_are_ignored() -> None:
    state, alerts = work([("1 22:00", 60), ("1 22:10", 60), ("1 22:01", 20), ("1 22:10", 20), ("1 22:20", 20)])
    assert told(alerts) == [("open", "1 22:20:00", "1 22:00:00", None)]
    assert alerts[0].evidence["leq_dba"] == 60.0 and state.last_ts_ms == ms(at("1 22:20"))


def test_state_round_trips_mid_episode() -> None:
    rows = [*minutes("1 23:00", "1 23:40", 60), ("1 23:40", 40), ("2 00:00", 40)]
    opened, _ = work(rows[:25])
    assert opened.episode_start_ms is not None and opened.window is not None
    assert json_round_trip(opened) == opened
    _, straight = work(rows)
    _, resumed = work(rows[25:], state=json_round_trip(opened))
    assert resumed == straight[1:]


levels = st.floats(30, 80, allow_nan=False)
timelines = st.lists(st.tuples(st.integers(1, 1800), levels), min_size=1, max_size=80).map(from_gaps)


def evening(rows: list[tuple[float, float]]) -> list[Row]:
    """Shift timeline rows to start at 21:00 local, so they cross the night."""
    return [(label(ms(at("1 21:00") + t)), v) for t, v in rows]


@given(timelines, st.booleans())
def test_alerts_form_episodes_within_one_night(rows: list[tuple[float, float]], permit: bool) -> None:
    schedules = [schedule(windows=["23:00-02:00"])] if permit else []
    _, alerts = work(evening(rows), schedules)
    check_grammar(alerts)
    for a in alerts:
        start = night_of(datetime.fromtimestamp(a.episode_start_ms / 1000, ZoneInfo(TZ)), NIGHT)
        assert start is not None and a.evidence["night"] == start.isoformat()
        if a.phase.value == "open":
            assert a.evidence["leq_dba"] >= PARAMS.night_work_activity_dba


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[tuple[float, float]]) -> None:
    assert work(evening(rows), restart=True) == work(evening(rows))
