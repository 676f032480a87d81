"""GPS anomalies: golden timelines of (t_s, x_m, y_m) fixes in a local frame, with trust flags."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.contracts import VehiclePosition
from rules import gps_anomaly
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.geometry import LocalFrame
from rules.gps_anomaly import GpsAnomalyParams, GpsAnomalyState, jump
from tests.rules.timelines import (
    DEVICE,
    LAT,
    LON,
    check_grammar,
    from_gaps,
    json_round_trip,
    ms,
    summary,
)

PARAMS = GpsAnomalyParams(max_speed_kmh=180, min_jump_m=500)  # 180 km/h = 50 m/s
FRAME = LocalFrame(LON, LAT)

Row = tuple[float, float, float]  # (t_s, x_m east, y_m north)


def fix(t: float, x: float, y: float) -> VehiclePosition:
    """Build a position x/y metres from the timeline's origin."""
    lon, lat = FRAME.to_lonlat(x, y)
    return VehiclePosition(
        device_id=DEVICE,
        ts_ms=ms(t),
        seq=0,
        lon=float(lon),
        lat=float(lat),
        speed_kmh=30.0,
        heading_deg=0.0,
    )


def fixes(
    rows: list[Row], *, state: GpsAnomalyState | None = None, restart: bool = False
) -> tuple[GpsAnomalyState, list[Alert], list[bool]]:
    """Run the rule over fixes; return the state, the alerts and the trust flag of each fix."""
    state = state or GpsAnomalyState()
    alerts: list[Alert] = []
    trusted: list[bool] = []
    for t, x, y in rows:
        if restart:
            state = json_round_trip(state)
        state, out, ok = gps_anomaly.step(state, fix(t, x, y), PARAMS, subject=DEVICE, matter_code="03005")
        alerts += out
        trusted.append(ok)
    return state, alerts, trusted


def test_a_spike_is_untrusted_and_is_a_short_episode() -> None:
    rows: list[Row] = [
        (0, 0, 0),
        (10, 100, 0),  # 36 km/h
        (20, 3100, 0),  # 3 km in 10 s: impossible -> OPEN, untrusted
        (30, 300, 0),  # plausible from the anchor (100 m) -> CLEAR, trusted
        (40, 400, 0),
    ]
    _, alerts, trusted = fixes(rows)
    assert trusted == [True, True, False, True, True]
    assert summary(alerts) == [("open", 20, 20), ("clear", 30, 20)]
    opened, cleared = alerts
    assert opened.alert_id == cleared.alert_id == alert_id("gps_anomaly", DEVICE, ms(20))
    assert {a.severity for a in alerts} == {Severity.INFO}
    anchor = fix(10, 100, 0)
    assert (opened.lon, opened.lat) == (anchor.lon, anchor.lat)  # placed where the truck really was
    assert opened.evidence["anomaly"] is True and opened.evidence["rejected"] == 1
    assert opened.evidence["max_jump_m"] == pytest.approx(3000, abs=1)
    assert opened.evidence["max_implied_speed_kmh"] == pytest.approx(1080, abs=1)
    assert cleared.evidence["re_anchored"] is False


def test_steady_driving_and_small_noise_are_trusted() -> None:
    rows: list[Row] = [(float(t), 15.0 * t, 0.0) for t in range(0, 600, 10)] + [(601, 9000 + 400, 0)]  # 400 m in 1 s
    _, alerts, trusted = fixes(rows)
    assert alerts == [] and all(trusted)


def test_exact_thresholds() -> None:
    # 500 m is not more than min_jump_m, however fast; 50 m/s is exactly 180 km/h
    assert fixes([(0, 0, 0), (1, 500, 0)])[2] == [True, True]
    assert fixes([(0, 0, 0), (10, 500.5, 0)])[2] == [True, False]
    assert fixes([(0, 0, 0), (20, 1000, 0)])[2] == [True, True]
    assert fixes([(0, 0, 0), (20, 1001, 0)])[2] == [True, False]


def test_a_long_gap_makes_a_long_move_plausible() -> None:
    assert fixes([(0, 0, 0), (600, 20_000, 0)])[2] == [True, True]


def test_a_bad_first_fix_is_outvoted_by_two_agreeing_fixes() -> None:
    rows: list[Row] = [(0, 50_000, 0), (10, 0, 0), (20, 100, 0), (30, 200, 0)]
    _, alerts, trusted = fixes(rows)
    assert trusted == [True, False, True, True]
    assert summary(alerts) == [("open", 10, 10), ("clear", 20, 10)]
    assert alerts[1].evidence["re_anchored"] is True


def test_a_run_of_bad_fixes_is_one_episode() -> None:
    rows: list[Row] = [(0, 0, 0), (10, 5000, 0), (20, -7000, 300), (30, 9000, 9000), (40, 200, 0)]
    _, alerts, trusted = fixes(rows)
    assert trusted == [True, False, False, False, True]
    assert summary(alerts) == [("open", 10, 10), ("clear", 40, 10)]
    assert alerts[1].evidence["rejected"] == 3


def test_late_and_duplicate_fixes_are_ignored_and_untrusted() -> None:
    state, _, _ = fixes([(0, 0, 0), (10, 100, 0)])
    again, alerts, trusted = fixes([(5, 50, 0), (10, 100, 0)], state=state)
    assert again == state and alerts == [] and trusted == [False, False]


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [(0, 0, 0), (10, 5000, 0), (20, 100, 0)]
    mid, _, _ = fixes(rows[:2])
    assert mid.episode_start_ms == ms(10) and mid.suspect_ts_ms == ms(10)
    assert json_round_trip(mid) == mid
    assert fixes(rows[2:], state=json_round_trip(mid))[1] == fixes(rows)[1][1:]


def test_jump_uses_great_circle_distance() -> None:
    one_km = fix(100, 1000, 0)
    j = jump(ms(0), LON, LAT, one_km)
    assert j.distance_m == pytest.approx(1000, rel=1e-4) and j.speed_kmh == pytest.approx(36, rel=1e-4)


@st.composite
def drives_with_spikes(draw: st.DrawFn) -> tuple[list[Row], set[int]]:
    """Draw a plausible drive (<= 100 km/h) with isolated far spikes; return rows, spike indices."""
    legs = draw(
        st.lists(
            st.tuples(st.integers(1, 30), st.floats(0, 27), st.floats(0, 2 * math.pi)),
            min_size=2,
            max_size=50,
        )
    )
    rows, x, y, spikes = [], 0.0, 0.0, set()
    for i, ((gap, speed, bearing), (t, *_)) in enumerate(zip(legs, from_gaps(legs), strict=True)):
        moved = speed * gap * (i > 0)  # metres driven since the previous fix, at <= 97 km/h
        x, y = x + moved * math.cos(bearing), y + moved * math.sin(bearing)
        spike = i > 0 and i - 1 not in spikes and draw(st.booleans())
        if spike:
            spikes.add(i)
        rows.append((t, x + 50_000 * spike, y))
    return rows, spikes


@given(drives_with_spikes())
def test_isolated_spikes_are_rejected_and_the_drive_is_trusted(
    case: tuple[list[Row], set[int]],
) -> None:
    rows, spikes = case
    _, alerts, trusted = fixes(rows)
    assert [i for i, ok in enumerate(trusted) if not ok] == sorted(spikes)
    check_grammar(alerts)
    assert len([a for a in alerts if a.phase is Phase.OPEN]) == len(spikes)


@given(drives_with_spikes())
def test_reloading_state_before_every_fix_changes_nothing(case: tuple[list[Row], set[int]]) -> None:
    rows, _ = case
    assert fixes(rows, restart=True) == fixes(rows)
