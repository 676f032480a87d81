"""Site noise (GB 12523-2011): golden timelines in Asia/Shanghai local time, 22:00 / 06:00 edges, properties.

Rows are ``("D HH:MM[:SS]", dBA)``: day D of January 2026, local time. Defaults: day 70, night 55,
Lmax night + 15 = 70, 20-minute windows (GB 12523-2011 §5: a continuous 20-minute Leq), hysteresis 3 dB.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import SiteReading
from rules import noise
from rules.alerts import Alert, Phase, alert_id
from rules.noise import NoiseParams, NoiseState
from tests.rules.timelines import (
    T0_MS,
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    run,
)

SITE = "SITE-01"
TZ = "Asia/Shanghai"
PARAMS = NoiseParams()
Row = tuple[str, float]


def at(local: str) -> float:
    """Return the timeline seconds of 'D HH:MM[:SS]' (January 2026, Shanghai; t = 0 is 1 08:00)."""
    day, clock = local.split()
    h, m, *s = (int(x) for x in clock.split(":"))
    return (int(day) - 1) * 86400 + (h - 8) * 3600 + m * 60 + (s[0] if s else 0)


def label(ts_ms: int) -> str:
    """Return 'D HH:MM:SS' of an epoch-ms timestamp (Shanghai is UTC+8 without DST)."""
    s = (ts_ms - T0_MS) // 1000 + 8 * 3600
    return f"{s // 86400 + 1} {s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def minutes(start: str, end: str, level: float, every_s: int = 60) -> list[Row]:
    """Return readings of one level every ``every_s`` from start (inclusive) to end (exclusive)."""
    t0, t1 = at(start), at(end)
    return [(label(ms(t)), level) for t in np.arange(t0, t1, every_s).tolist()]


def site(t_s: float, dba: float) -> SiteReading:
    return SiteReading(device_id=SITE, ts_ms=ms(t_s), seq=0, pm10_ugm3=30.0, noise_dba=dba)


def loud(
    rows: list[Row], params: NoiseParams = PARAMS, *, state: NoiseState | None = None, restart: bool = False
) -> tuple[NoiseState, list[Alert]]:
    """Run the rule over ("D HH:MM[:SS]", dBA) rows."""

    def step(s: NoiseState, r: SiteReading) -> tuple[NoiseState, list[Alert]]:
        return noise.step(s, r, params, subject=SITE, matter_code="08001", lon=114.3, lat=30.6, tz=TZ)

    return run(step, state or NoiseState(), [site(at(t), v) for t, v in rows], restart=restart)


def told(alerts: list[Alert]) -> list[tuple[str, str, str, str, str]]:
    """Return (phase, at, episode start, severity, trigger) per alert, in local time."""
    return [
        (a.phase.value, label(a.ts_ms), label(a.episode_start_ms), a.severity.value, a.evidence["trigger"])
        for a in alerts
    ]


def test_day_window_over_70_opens_and_clears_under_67() -> None:
    rows = [*minutes("1 10:00", "1 10:40", 72), *minutes("1 10:40", "1 11:00", 66), ("1 11:00", 60)]
    _, alerts = loud(rows)
    assert told(alerts) == [
        ("open", "1 10:20:00", "1 10:00:00", "warning", "leq"),  # 10:00-10:20 Leq 72 closed at 10:20
        ("clear", "1 11:00:00", "1 10:00:00", "warning", "leq"),  # 10:40-11:00 Leq 66 <= 67
    ]
    assert alerts[0].evidence | {"max_level_dba": 72.0} == alerts[0].evidence
    assert alerts[0].evidence["limit_dba"] == 70.0 and alerts[0].evidence["period"] == "day"
    assert alerts[0].alert_id == alert_id("noise", SITE, ms(at("1 10:00")))


def test_the_default_window_is_the_standards_20_minutes() -> None:
    assert PARAMS.window_s == 1200  # GB 12523-2011 §5: a continuous 20-minute Leq
    _, alerts = loud([*minutes("1 10:00", "1 10:20", 72), ("1 10:20", 60)])
    evidence = alerts[0].evidence
    assert (evidence["window_start_ms"], evidence["window_end_ms"]) == (ms(at("1 10:00")), ms(at("1 10:20")))


def test_the_level_is_an_energy_mean() -> None:
    _, alerts = loud([("1 10:00", 60), ("1 10:10", 80), ("1 10:20", 40)])
    assert alerts[0].evidence["level_dba"] == 77.0  # 10·log10((10^6 + 10^8) / 2); arithmetic mean 70


def test_exactly_at_the_limit_is_not_over_and_hysteresis_holds() -> None:
    night = [
        *minutes("1 22:00", "1 22:20", 55),
        *minutes("1 22:20", "1 22:40", 55.1),
        *minutes("1 22:40", "1 23:00", 52.1),
        *minutes("1 23:00", "1 23:20", 52),
        ("1 23:20", 30),
    ]
    _, alerts = loud(night)
    assert told(alerts) == [
        ("open", "1 22:40:00", "1 22:20:00", "major", "leq"),  # 55 is allowed, 55.1 is over
        ("clear", "1 23:20:00", "1 22:20:00", "major", "leq"),  # 52.1 holds, 52 = 55 - 3 clears
    ]


def test_the_22_00_edge_switches_the_limit() -> None:
    rows = [*minutes("1 21:40", "1 22:20", 60), ("1 22:20", 40)]
    _, alerts = loud(rows)
    assert told(alerts) == [("open", "1 22:20:00", "1 22:00:00", "major", "leq")]  # 21:40 window: day, fine
    assert alerts[0].evidence["period"] == "night" and alerts[0].evidence["limit_dba"] == 55.0


def test_a_day_episode_rises_to_major_at_night() -> None:
    rows = [
        *minutes("1 21:40", "1 22:00", 72),
        *minutes("1 22:00", "1 22:20", 60),
        *minutes("1 22:20", "1 22:40", 50),
        ("1 22:40", 40),
    ]
    _, alerts = loud(rows)
    assert told(alerts) == [
        ("open", "1 22:00:00", "1 21:40:00", "warning", "leq"),
        ("update", "1 22:20:00", "1 21:40:00", "major", "leq"),
        ("clear", "1 22:40:00", "1 21:40:00", "major", "leq"),
    ]


def test_lmax_is_judged_at_night_only_and_strictly_over_70() -> None:
    rows = [
        *minutes("1 21:50", "1 21:59", 40),
        ("1 21:59:59", 75),  # day: Lmax does not apply
        ("1 22:00:00", 70.0),
        ("1 22:00:01", 70.1),
    ]  # night: 70 allowed, 70.1 at once
    _, alerts = loud(rows)
    assert told(alerts) == [("open", "1 22:00:01", "1 22:00:01", "major", "lmax")]
    assert alerts[0].evidence["limit_dba"] == 70.0 and alerts[0].evidence["level_dba"] == 70.1


def test_the_06_00_edge_ends_the_night() -> None:
    _, alerts = loud([("2 05:50", 40), ("2 05:59:59", 70.5)])
    assert told(alerts) == [("open", "2 05:59:59", "2 05:59:59", "major", "lmax")]
    _, alerts = loud([("2 05:50", 40), ("2 06:00:00", 80), ("2 06:19:59", 40), ("2 06:20", 40)])
    assert told(alerts) == [("open", "2 06:20:00", "2 06:00:00", "warning", "leq")]  # day Leq 77, no Lmax


def test_a_window_with_an_lmax_does_not_clear() -> None:
    rows = [
        *minutes("1 23:00", "1 23:20", 60),
        *minutes("1 23:20", "1 23:40", 40),
        ("1 23:30:30", 71),
        *minutes("1 23:40", "2 00:00", 40),
        ("2 00:00", 40),
    ]
    rows.sort(key=lambda r: at(r[0]))
    _, alerts = loud(rows)
    assert told(alerts) == [
        ("open", "1 23:20:00", "1 23:00:00", "major", "leq"),
        ("clear", "2 00:00:00", "1 23:00:00", "major", "leq"),  # 23:20-23:40 had a 71: held
    ]


def test_windows_are_cut_at_an_odd_night_edge() -> None:
    params = NoiseParams.model_validate({"night": "22:15-06:00", "window_s": 1800})
    _, alerts = loud([("1 22:05", 60), ("1 22:20", 60), ("1 22:30", 40)], params)
    assert told(alerts) == [("open", "1 22:30:00", "1 22:15:00", "major", "leq")]
    assert (alerts[0].evidence["window_start_ms"], alerts[0].evidence["window_end_ms"]) == (
        ms(at("1 22:15")),
        ms(at("1 22:30")),
    )


def test_late_and_duplicate_readings_are_ignored() -> None:
    state, alerts = loud([("1 10:00", 72), ("1 10:10", 72), ("1 10:01", 30), ("1 10:10", 30), ("1 10:20", 40)])
    assert told(alerts) == [("open", "1 10:20:00", "1 10:00:00", "warning", "leq")]
    assert alerts[0].evidence["level_dba"] == 72.0 and state.last_ts_ms == ms(at("1 10:20"))


def test_state_round_trips_mid_episode() -> None:
    rows = [*minutes("1 21:40", "1 22:00", 72), *minutes("1 22:00", "1 22:20", 60), ("1 22:20", 30), ("1 22:40", 30)]
    opened, _ = loud(rows[:25])
    assert opened.episode_start_ms is not None and opened.window is not None
    assert json_round_trip(opened) == opened
    _, straight = loud(rows)
    _, resumed = loud(rows[25:], state=json_round_trip(opened))
    assert resumed == straight[1:]


levels = st.floats(30, 95, allow_nan=False)
timelines = st.lists(st.tuples(st.integers(1, 900), levels), min_size=1, max_size=80).map(from_gaps)


def local_rows(rows: list[tuple[float, float]]) -> list[Row]:
    """Shift timeline rows to start at 21:00 local, so they cross the 22:00 edge."""
    return [(label(ms(at("1 21:00") + t)), v) for t, v in rows]


@given(timelines)
def test_levels_match_numpy_and_alerts_form_episodes(rows: list[tuple[float, float]]) -> None:
    local = local_rows(rows)
    _, alerts = loud(local)
    check_grammar(alerts)
    stamped = [(ms(at(t)), v) for t, v in local]
    for a in alerts:
        if a.evidence["trigger"] == "leq":
            inside = [v for t, v in stamped if a.evidence["window_start_ms"] <= t < a.evidence["window_end_ms"]]
            leq = 10 * np.log10(np.mean(10 ** (np.asarray(inside) / 10)))
            assert a.evidence["level_dba"] == pytest.approx(leq, abs=0.051)
            assert a.evidence["lmax_dba"] == pytest.approx(max(inside), abs=0.051)
        limit = a.evidence["limit_dba"]
        if a.phase is Phase.CLEAR:
            assert a.evidence["level_dba"] <= limit - PARAMS.hysteresis_dba + 0.05
        else:
            assert a.evidence["level_dba"] >= limit


@given(timelines)
def test_reloading_state_before_every_event_changes_nothing(rows: list[tuple[float, float]]) -> None:
    assert loud(local_rows(rows), restart=True) == loud(local_rows(rows))
