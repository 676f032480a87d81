"""Fill forecast: golden timelines of (t_s, fill) rows, the least-squares fit against numpy.polyfit, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from devices.contracts import FacilityReading
from rules import fill_forecast
from rules.alerts import Alert, Phase, alert_id
from rules.fill_forecast import FillForecastParams, FillForecastState, Forecast, fit_line, recent
from tests.rules.timelines import (
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    reading,
    run,
    summary,
)

STATION = "ST-0001"
PARAMS = FillForecastParams(window_s=3600, min_points=5, alert_within_s=3600, full_ratio=0.95)

Row = tuple[float, float]  # (t_s, fill_ratio)


def forecast(
    rows: list[Row],
    params: FillForecastParams = PARAMS,
    *,
    state: FillForecastState | None = None,
    restart: bool = False,
) -> tuple[FillForecastState, list[Alert]]:
    """Run the rule over a timeline of (t_s, fill_ratio)."""

    def step(s: FillForecastState, r: FacilityReading) -> tuple[FillForecastState, list[Alert]]:
        return fill_forecast.step(s, r, params, subject=STATION, matter_code="06042", lon=114.28, lat=30.58)

    return run(step, state or FillForecastState(), [reading(t, f) for t, f in rows], restart=restart)


def ramp(start: float, per_10_min: float, n: int, t0: float = 0) -> list[Row]:
    """Return n readings 10 minutes apart rising by ``per_10_min`` each."""
    return [(t0 + 600.0 * i, round(start + per_10_min * i, 6)) for i in range(n)]


def test_a_steady_rise_opens_before_full_and_emptying_clears() -> None:
    rows = [*ramp(0.40, 0.06, 5), (3000, 0.70), (3600, 0.10), (4200, 0.12)]
    _, alerts = forecast(rows)
    # 5th point at 2400 s: fill 0.64 rising 0.36 / h, full (0.95) in 0.31 / 0.36 h = 3100 s <= 3600 s
    assert summary(alerts) == [("open", 2400, 2400), ("clear", 3600, 2400)]
    assert alerts[0].alert_id == alert_id("fill_forecast", STATION, ms(2400))
    opened, cleared = alerts[0].evidence, alerts[1].evidence
    assert opened["slope_per_h"] == pytest.approx(0.36) and opened["time_to_full_s"] == pytest.approx(3100.0)
    assert opened["predicted_full_ms"] == ms(2400 + 3100) and opened["points"] == 5
    assert cleared["reason"] == "emptied" and alerts[0].severity.value == "info"


def test_too_few_points_or_a_slow_rise_say_nothing() -> None:
    assert forecast(ramp(0.40, 0.06, 4))[1] == []  # four points < min_points
    assert forecast(ramp(0.10, 0.02, 8))[1] == []  # 0.12 / h: full in ~5 h


def test_the_alert_window_is_inclusive() -> None:
    # fill 0.59 at the 5th point rising 0.36 / h: full in exactly 3600 s
    _, alerts = forecast(ramp(0.35, 0.06, 5))
    assert summary(alerts) == [("open", 2400, 2400)]
    assert alerts[0].evidence["time_to_full_s"] == pytest.approx(3600.0)
    assert forecast(ramp(0.3499, 0.06, 5))[1] == []


def test_already_full_is_the_overflow_rules_business() -> None:
    assert forecast(ramp(0.80, 0.06, 6))[1] == []  # 0.98 at the 5th point: not opened


def test_full_while_open_stays_open_until_emptied() -> None:
    rows = [*ramp(0.40, 0.06, 10), (6000, 1.0), (6600, 0.3)]
    _, alerts = forecast(rows)
    assert summary(alerts) == [("open", 2400, 2400), ("clear", 6600, 2400)]
    assert alerts[1].evidence["reason"] == "emptied"


def test_a_flattening_trend_clears_with_hysteresis() -> None:
    rising = ramp(0.40, 0.06, 5)
    flat = [(3000 + 600.0 * i, 0.64) for i in range(8)]
    _, alerts = forecast([*rising, *flat])
    assert summary(alerts)[0] == ("open", 2400, 2400)
    assert [a.phase for a in alerts] == [Phase.OPEN, Phase.CLEAR]
    assert alerts[1].evidence["reason"] == "trend"
    eta = alerts[1].evidence["time_to_full_s"]
    assert eta is None or eta > PARAMS.clear_factor * PARAMS.alert_within_s


def test_gradual_emptying_counts_from_the_window_top() -> None:
    rows = [*ramp(0.40, 0.06, 5), (3000, 0.66), (3600, 0.60), (4200, 0.55)]  # 0.55 < 0.70 - 0.1
    _, alerts = forecast(rows)
    assert summary(alerts) == [("open", 2400, 2400), ("clear", 4200, 2400)]


def test_the_history_keeps_the_window_and_the_newest_points() -> None:
    params = PARAMS.model_copy(update={"max_points": 4})
    points = tuple((ms(600.0 * i), 0.1) for i in range(10))
    assert recent(points, ms(5400), PARAMS) == points[3:]  # >= 5400 - 3600 s
    assert recent(points, ms(5400), params) == points[-4:]


def test_late_and_duplicate_readings_are_ignored() -> None:
    rows = [*ramp(0.40, 0.06, 4), (1000, 0.0), (1800, 0.0), (2400, 0.64)]
    state, alerts = forecast(rows)
    assert summary(alerts) == [("open", 2400, 2400)] and len(state.points) == 5


def test_state_round_trips_mid_episode() -> None:
    rows = [*ramp(0.40, 0.06, 7), (4200, 0.1)]
    opened, _ = forecast(rows[:6])
    assert opened.episode_start_ms == ms(2400)
    assert json_round_trip(opened) == opened
    _, straight = forecast(rows)
    _, resumed = forecast(rows[6:], state=json_round_trip(opened))
    assert resumed == straight[1:]


times = st.lists(st.integers(0, 7_200_000), min_size=2, max_size=40, unique=True).map(sorted)
fills = st.floats(0, 1.5, allow_nan=False)


@given(times, st.data())
def test_the_fit_matches_numpy_polyfit(ts: list[int], data: st.DataObject) -> None:
    ys = data.draw(st.lists(fills, min_size=len(ts), max_size=len(ts)))
    t_s = (np.asarray(ts, dtype=float) - ts[-1]) / 1000
    assume(np.ptp(t_s) > 1.0)  # polyfit itself is ill-conditioned on near-equal times
    slope, level = fit_line(ts, ys)  # type: ignore[misc]
    b, a = np.polyfit(t_s, ys, 1)
    assert slope == pytest.approx(b, rel=1e-6, abs=1e-9)
    assert level == pytest.approx(a, rel=1e-6, abs=1e-6)


@given(times, st.data())
def test_the_forecast_agrees_with_solving_the_polyfit_line(ts: list[int], data: st.DataObject) -> None:
    ys = data.draw(st.lists(fills, min_size=len(ts), max_size=len(ts)))
    assume(np.ptp(ts) > 1000)
    fc = Forecast.of(list(zip(ts, ys, strict=True)), 0.95)
    assert fc is not None
    b, a = np.polyfit((np.asarray(ts, dtype=float) - ts[-1]) / 1000, ys, 1)
    assume(abs(b) > 1e-9)
    if b <= 0:
        assert fc.time_to_full_s is None
    else:
        assert fc.time_to_full_s == pytest.approx(max(0.0, (0.95 - a) / b), rel=1e-5, abs=1e-3)


def test_equal_times_give_no_line() -> None:
    assert fit_line([5, 5], [0.1, 0.2]) is None


timelines = st.lists(st.tuples(st.integers(60, 900), st.floats(0, 1.2, allow_nan=False)), min_size=1, max_size=60).map(
    from_gaps
)


@given(timelines)
def test_alerts_form_episodes(rows: list[Row]) -> None:
    _, alerts = forecast(rows)
    check_grammar(alerts)
    for a in alerts:
        if a.phase is Phase.OPEN:
            assert a.evidence["fill_ratio"] < PARAMS.full_ratio
            assert a.evidence["time_to_full_s"] <= PARAMS.alert_within_s


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[Row]) -> None:
    assert forecast(rows, restart=True) == forecast(rows)
