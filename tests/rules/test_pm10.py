"""Site dust PM10: golden timelines of (t_s, pm10) rows, ladder edges, daily counts, properties.

The site-minus-background join is in test_pm10_join.py.

Timeline time 0 is 2026-01-01T00:00Z = 08:00 in Asia/Shanghai, so local midnight is at t = 57,600 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import SiteReading
from rules import pm10
from rules.alerts import Alert, Phase, alert_id
from rules.params import RuleParams
from rules.pm10 import Pm10Params, Pm10State
from rules.windows import WindowMean
from tests.rules.timelines import (
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    run,
    summary,
)

SITE = "SITE-01"
TZ = "Asia/Shanghai"
LOCAL_MIDNIGHT_S = 16 * 3600
WUHAN = RuleParams(pm10_preset="wuhan").pm10
HEBEI = RuleParams(pm10_preset="hebei").pm10  # judged here on the raw mean (the join is test_pm10_join.py)
SHANGHAI = RuleParams.model_validate({"pm10_preset": "shanghai", "pm10": {"warn_ugm3": 100}}).pm10

Row = tuple[float, float]  # (t_s, pm10_ugm3)


def site(t_s: float, pm10_ugm3: float) -> SiteReading:
    """Build a boundary-monitor reading at timeline time ``t_s``."""
    return SiteReading(device_id=SITE, ts_ms=ms(t_s), seq=0, pm10_ugm3=pm10_ugm3, noise_dba=50.0)


def dust(
    rows: Sequence[Row],
    params: Pm10Params = WUHAN,
    *,
    state: Pm10State | None = None,
    restart: bool = False,
) -> tuple[Pm10State, list[Alert]]:
    """Run the rule over (t_s, pm10) rows."""

    def step(s: Pm10State, reading: SiteReading) -> tuple[Pm10State, list[Alert]]:
        return pm10.step(s, reading, params, subject=SITE, matter_code="08004", lon=114.3, lat=30.6, tz=TZ)

    return run(step, state or Pm10State(), [site(t, v) for t, v in rows], restart=restart)


def hourly(means: list[float], start_h: int = 0) -> list[Row]:
    """Return one reading in the middle of each hour (the hour's mean), then one to close the last."""
    return [(3600.0 * (start_h + i) + 1800, m) for i, m in enumerate(means)] + [
        (3600.0 * (start_h + len(means)) + 1800, 0.0)
    ]


def graded(alerts: list[Alert]) -> list[tuple[str, float, float, str]]:
    return [(*s, a.severity.value) for s, a in zip(summary(alerts), alerts, strict=True)]


def test_wuhan_warn_stop_and_resume_under_150() -> None:
    rows = [
        (0, 120),
        (1200, 140),
        (2400, 160),  # 08:00-09:00 mean 140: fine
        (3600, 170),
        (4800, 150),
        (6000, 160),  # mean 160 > 150: closed by 7200 -> OPEN warning
        (7200, 220),
        (8400, 230),
        (9600, 190),  # mean 213.3 > 200: closed by 10800 -> UPDATE critical
        (10800, 170),
        (12000, 160),  # mean 165: still over resume, the stop holds
        (14400, 150),
        (15600, 150),  # mean 150 == resume: closed by 18000 -> CLEAR
        (18000, 90),
    ]
    _, alerts = dust(rows)
    assert graded(alerts) == [
        ("open", 7200, 3600, "warning"),
        ("update", 10800, 3600, "critical"),
        ("clear", 18000, 3600, "critical"),
    ]
    assert {a.alert_id for a in alerts} == {alert_id("pm10", SITE, ms(3600))}
    opened, stopped, cleared = (a.evidence for a in alerts)
    assert opened["mean_ugm3"] == 160.0 and opened["readings"] == 3 and not opened["stop_work"]
    assert stopped["judged_ugm3"] == 213.3 and stopped["stop_work"]
    assert (stopped["window_start_ms"], stopped["window_end_ms"]) == (ms(7200), ms(10800))
    assert cleared["judged_ugm3"] == 150.0 and cleared["max_judged_ugm3"] == 213.3


def test_thresholds_are_strictly_over() -> None:
    _, alerts = dust(hourly([150, 150.1, 200, 200.1, 150.1, 150]))
    assert graded(alerts) == [
        ("open", 9000, 3600, "warning"),  # 150 is not over; 150.1 is
        ("update", 16200, 3600, "critical"),  # 200 is not a stop; 200.1 is
        ("clear", 23400, 3600, "critical"),  # 150.1 keeps the stop; 150 lifts it
    ]


def test_a_warning_clears_at_the_warn_level() -> None:
    _, alerts = dust(hourly([160, 150]))
    assert graded(alerts) == [("open", 5400, 0, "warning"), ("clear", 9000, 0, "warning")]


def test_a_stop_clears_only_under_both_resume_and_warn() -> None:
    params = Pm10Params(window_s=3600, warn_ugm3=150, stop_ugm3=200, resume_ugm3=120)
    _, alerts = dust(hourly([210, 140, 120]), params)
    assert graded(alerts) == [("open", 5400, 0, "critical"), ("clear", 12600, 0, "critical")]
    odd = Pm10Params(window_s=3600, warn_ugm3=100, stop_ugm3=200, resume_ugm3=150)  # resume above warn
    _, alerts = dust(hourly([210, 140, 100]), odd)
    assert graded(alerts) == [("open", 5400, 0, "critical"), ("clear", 12600, 0, "critical")]


def test_hebei_third_exceedance_of_the_day_is_major() -> None:
    _, alerts = dust(hourly([90, 50, 85, 60, 95, 81, 40]), HEBEI)
    assert graded(alerts) == [
        ("open", 5400, 0, "warning"),
        ("clear", 9000, 0, "warning"),
        ("open", 12600, 7200, "warning"),
        ("clear", 16200, 7200, "warning"),
        ("open", 19800, 14400, "major"),  # third window over 80 today: the daily limit is broken
        ("clear", 27000, 14400, "major"),
    ]
    assert [a.evidence["exceedances_today"] for a in alerts] == [1, 1, 2, 2, 3, 4]
    assert alerts[4].evidence["daily_limit_exceeded"] and not alerts[2].evidence["daily_limit_exceeded"]


def test_daily_limit_broken_inside_an_open_episode_updates_it() -> None:
    _, alerts = dust(hourly([90, 90, 90, 50]), HEBEI)
    assert graded(alerts) == [("open", 5400, 0, "warning"), ("update", 12600, 0, "major"), ("clear", 16200, 0, "major")]


def test_the_count_restarts_at_local_midnight() -> None:
    start_h = 13  # 21:00 local: windows 21-22, 22-23, 23-24 on 1 Jan, then 00-01, 01-02 on 2 Jan
    _, alerts = dust(hourly([90, 90, 90, 90, 90], start_h), HEBEI)
    assert graded(alerts) == [
        ("open", 3600 * 14 + 1800, 3600 * 13, "warning"),
        ("update", 3600 * 16 + 1800, 3600 * 13, "major"),  # third of 1 Jan
    ]
    state, _ = dust(hourly([90, 90, 90, 90, 90], start_h), HEBEI)
    assert (state.day, state.exceedances) == ("2026-01-02", 2)  # the 00:00 and 01:00 windows


def test_windows_align_to_local_midnight() -> None:
    params = Pm10Params(window_s=7 * 3600, warn_ugm3=100, stop_ugm3=1000)
    # 7-hour windows from local midnight: 21:00-24:00 is cut short, so t = 57,000 (23:50) and
    # t = 57,600 (00:00) fall in different windows
    _, alerts = dust([(57_000, 300), (57_600, 10), (82_799, 10), (82_800, 10)], params)
    assert graded(alerts) == [
        ("open", 57_600, LOCAL_MIDNIGHT_S - 3 * 3600, "warning"),  # 21:00-24:00 closed at 00:00
        ("clear", 82_800, LOCAL_MIDNIGHT_S - 3 * 3600, "warning"),  # 00:00-07:00 closed at 07:00
    ]
    assert alerts[1].evidence["window_start_ms"] == ms(LOCAL_MIDNIGHT_S)


def test_shanghai_quarter_hours_one_exceedance_allowed() -> None:
    _, alerts = dust([(0, 120), (900, 50), (1800, 130), (2700, 50)], SHANGHAI)
    assert graded(alerts) == [
        ("open", 900, 0, "warning"),
        ("clear", 1800, 0, "warning"),
        ("open", 2700, 1800, "major"),
    ]


def test_judge_window_subtracts_a_background_mean() -> None:
    emit = pm10.Emitter(SITE, "08004", 114.3, 30.6, WUHAN, TZ)
    window = WindowMean(ms(0), ms(3600)).add(230).add(250)  # mean 240
    _, differential = pm10.judge_window(Pm10State(), window, 110.0, ms(3600), emit)
    assert differential == []  # 240 - 110 = 130: under the warning
    _, absolute = pm10.judge_window(Pm10State(), window, None, ms(3600), emit)
    assert graded(absolute) == [("open", 3600, 0, "critical")]
    assert absolute[0].evidence["background_ugm3"] is None and "background" not in absolute[0].evidence
    _, noted = pm10.judge_window(Pm10State(), window, 40.0, ms(3600), emit, {"background": "present"})
    assert (noted[0].evidence["judged_ugm3"], noted[0].evidence["background"]) == (200.0, "present")


def test_state_stored_with_the_old_background_window_still_loads() -> None:
    state, _ = dust(hourly([160]))
    old = {**state.to_dict(), "background": None}
    assert Pm10State.from_dict(old) == state


def test_a_silent_monitor_keeps_the_stop() -> None:
    _, alerts = dust([(0, 250), (3600, 250), (50_000, 100)])  # hours without readings have no mean
    assert graded(alerts) == [("open", 3600, 0, "critical")]


def test_late_and_duplicate_readings_are_ignored() -> None:
    state, alerts = dust([(0, 300), (1800, 300), (1000, 0), (1800, 0), (3600, 10)])
    assert graded(alerts) == [("open", 3600, 0, "critical")]
    assert alerts[0].evidence["mean_ugm3"] == 300.0 and state.last_ts_ms == ms(3600)


def test_params_refuse_a_stop_under_the_warning() -> None:
    with pytest.raises(ValueError, match="warn_ugm3 <= stop_ugm3"):
        Pm10Params(warn_ugm3=200, stop_ugm3=150)


def test_state_round_trips_mid_episode() -> None:
    rows = hourly([160, 220, 170, 100])
    opened, _ = dust(rows[:3])
    assert opened.episode_start_ms == ms(0) and opened.window is not None
    assert json_round_trip(opened) == opened
    _, straight = dust(rows)
    _, resumed = dust(rows[3:], state=json_round_trip(opened))
    assert resumed == straight[2:]


levels = st.floats(0, 400, allow_nan=False)
timelines = st.lists(st.tuples(st.integers(1, 2400), levels), min_size=1, max_size=60).map(from_gaps)


@given(timelines)
def test_window_means_match_numpy_and_alerts_form_episodes(rows: list[Row]) -> None:
    params = Pm10Params(window_s=900, warn_ugm3=150, stop_ugm3=200, resume_ugm3=120, max_exceedances_per_day=1)
    _, alerts = dust(rows, params)
    check_grammar(alerts)
    by_window = {k: [v for _, v in g] for k, g in groupby(rows, key=lambda r: ms(r[0]) // 900_000)}
    for a in alerts:
        expected = float(np.mean(by_window[a.evidence["window_start_ms"] // 900_000]))
        assert a.evidence["mean_ugm3"] == pytest.approx(expected, abs=0.051)
        judged = a.evidence["judged_ugm3"]
        if a.phase is Phase.CLEAR:
            assert judged <= (120 if a.severity.value == "critical" else 150)
        else:
            assert judged >= 150  # rounded to 0.1 in the evidence


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert dust(rows, SHANGHAI, restart=True) == dust(rows, SHANGHAI)
