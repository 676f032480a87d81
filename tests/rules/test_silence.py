"""Silent devices: golden timelines of ("seen" | "tick", t_s) rows: messages and watermarks."""

from __future__ import annotations

from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules import silence
from rules.alerts import Alert, Severity, alert_id
from rules.silence import SilenceState
from tests.rules.timelines import (
    DEVICE,
    LAT,
    LON,
    check_grammar,
    json_round_trip,
    ms,
    summary,
)

MAX_S = 300.0
Kind = Literal["seen", "tick", "off"]  # a message; a watermark; a watermark while not required
Row = tuple[Kind, float]


def silent(
    rows: list[Row], *, state: SilenceState | None = None, restart: bool = False
) -> tuple[SilenceState, list[Alert]]:
    """Run messages (with the truck's position) and watermark ticks through the rule."""
    state = state or SilenceState()
    alerts: list[Alert] = []
    for kind, t in rows:
        if restart:
            state = json_round_trip(state)
        if kind == "seen":
            state, out = silence.seen(state, ms(t), subject=DEVICE, matter_code="03005", lon=LON + t * 1e-6, lat=LAT)
        else:
            state, out = silence.check(
                state, ms(t), MAX_S, subject=DEVICE, matter_code="03005", required=kind == "tick"
            )
        alerts += out
    return state, alerts


def test_silence_opens_past_the_limit_and_a_message_clears() -> None:
    rows: list[Row] = [
        ("seen", 0),
        ("tick", 60),
        ("seen", 100),  # last message before the silence
        ("tick", 400),  # exactly 300 s: not yet
        ("tick", 400.001),  # -> OPEN, episode from the last message
        ("tick", 3600),  # still silent: nothing more
        ("seen", 4000),  # back -> CLEAR
        ("tick", 4100),
    ]
    _, alerts = silent(rows)
    assert summary(alerts) == [("open", 400.001, 100), ("clear", 4000, 100)]
    opened, cleared = alerts
    assert opened.alert_id == cleared.alert_id == alert_id("silent_device", DEVICE, ms(100))
    assert {a.severity for a in alerts} == {Severity.WARNING}
    assert (opened.lon, opened.lat) == (LON + 100e-6, LAT)  # where the terminal went dark
    assert (cleared.lon, cleared.lat) == (LON + 4000e-6, LAT)  # where it came back
    assert opened.evidence == {"last_seen_ms": ms(100), "silent_s": 300.001, "max_silence_s": 300.0}
    assert cleared.evidence == {
        "last_seen_ms": ms(100),
        "silent_s": 3900.0,
        "reason": "message",
        "late": False,
    }


def test_not_required_means_no_alert_and_ends_an_open_one() -> None:
    assert silent([("seen", 0), ("off", 1000), ("off", 5000)])[1] == []
    _, alerts = silent([("seen", 0), ("tick", 400), ("off", 500), ("seen", 600)])
    assert summary(alerts) == [("open", 400, 0), ("clear", 500, 0)]
    assert alerts[1].evidence["reason"] == "not_required"


def test_a_device_never_seen_is_not_judged() -> None:
    assert silent([("tick", 0), ("tick", 10_000)])[1] == []


def test_backlog_with_old_timestamps_clears_no_earlier_than_the_open() -> None:
    _, alerts = silent([("seen", 0), ("tick", 1000), ("seen", 200)])  # uploaded after the tick
    assert summary(alerts) == [("open", 1000, 0), ("clear", 1000, 0)]
    assert alerts[1].evidence["late"] is True and alerts[1].evidence["silent_s"] == 200.0


def test_a_backlog_behind_the_watermark_never_reopens_the_silence_it_cleared() -> None:
    """A blind-area upload arriving at watermark 700: the device spoke at 700, whatever its messages' times."""
    rows: list[Row] = [
        ("seen", 0),
        ("tick", 400),
        ("tick", 700),
        ("seen", 100),
        ("tick", 710),
        ("seen", 150),
        ("tick", 990),
        ("seen", 40),
        ("tick", 1001),
        ("tick", 1300),
    ]  # 1001 - 150 > 300 s: no
    state, alerts = silent(rows)
    assert summary(alerts) == [("open", 400, 0), ("clear", 400, 0), ("open", 1300, 150)]  # 1300 - 990 > 300 s
    assert state.last_seen_ms == ms(150) and state.heard_ms == ms(990)  # the message of 40 was heard at 990


def test_late_messages_and_old_watermarks_are_ignored() -> None:
    state, alerts = silent([("seen", 100), ("seen", 50), ("seen", 100), ("tick", 500), ("tick", 450)])
    assert summary(alerts) == [("open", 500, 100)]
    assert state.last_seen_ms == ms(100) and state.watermark_ms == ms(500)


def test_fixed_devices_pass_their_location() -> None:
    state, _ = silence.seen(SilenceState(), ms(0), subject="ST-1", matter_code="03005")
    _, alerts = silence.check(state, ms(2000), 1800, subject="ST-1", matter_code="03005", lon=114.2, lat=30.5)
    assert [(a.lon, a.lat) for a in alerts] == [(114.2, 30.5)]
    with pytest.raises(ValueError, match="no location"):
        silence.check(state, ms(2000), 1800, subject="ST-1", matter_code="03005")


def test_state_round_trips_mid_episode() -> None:
    rows: list[Row] = [("seen", 0), ("tick", 400), ("tick", 500), ("seen", 600)]
    mid, _ = silent(rows[:2])
    assert mid.episode_start_ms == ms(0) and mid.opened_ms == ms(400)
    assert json_round_trip(mid) == mid
    assert silent(rows[2:], state=json_round_trip(mid))[1] == silent(rows)[1][1:]


rows_st = st.lists(st.tuples(st.sampled_from(["seen", "tick", "tick", "off"]), st.integers(0, 2000)), max_size=60)


@given(rows_st)
def test_alerts_form_episodes_starting_at_the_last_message(rows: list[Row]) -> None:
    _, alerts = silent(rows)
    check_grammar(alerts)
    seen_times = {ms(t) for kind, t in rows if kind == "seen"}
    for a in alerts:
        assert a.episode_start_ms in seen_times
        assert a.alert_id == alert_id("silent_device", DEVICE, a.episode_start_ms)
        if a.phase.value == "open":
            assert a.ts_ms - a.episode_start_ms > MAX_S * 1000


@given(rows_st)
def test_reloading_state_before_every_call_changes_nothing(rows: list[Row]) -> None:
    assert silent(rows, restart=True) == silent(rows)
