"""Event-time window maths: alignment (epoch, local midnight, cuts), running means against numpy."""

from __future__ import annotations

import json
from datetime import datetime, time
from itertools import groupby
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.windows import (
    Tumbling,
    WindowMean,
    advance,
    local_day,
    local_midnight_ms,
    optional_window,
)

SHANGHAI = "Asia/Shanghai"
HOUR_MS = 3_600_000


def local(text: str, tz: str = SHANGHAI) -> int:
    """Return the epoch ms of a local 'YYYY-MM-DD HH:MM[:SS]' in a zone."""
    return round(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def test_epoch_windows_align_to_multiples_of_the_length() -> None:
    w = Tumbling(900_000)
    assert w.bounds(local("2026-01-01 10:07")) == (local("2026-01-01 10:00"), local("2026-01-01 10:15"))
    assert w.bounds(local("2026-01-01 10:15")) == (local("2026-01-01 10:15"), local("2026-01-01 10:30"))


def test_local_windows_start_at_local_midnight_and_the_last_one_is_cut_there() -> None:
    w = Tumbling(7 * HOUR_MS, SHANGHAI)  # 00-07, 07-14, 14-21, 21-24
    assert w.bounds(local("2026-01-01 06:59:59")) == (local("2026-01-01 00:00"), local("2026-01-01 07:00"))
    assert w.bounds(local("2026-01-01 23:30")) == (local("2026-01-01 21:00"), local("2026-01-02 00:00"))
    assert w.bounds(local("2026-01-02 00:00")) == (local("2026-01-02 00:00"), local("2026-01-02 07:00"))


def test_cuts_start_a_window_at_the_night_edges() -> None:
    w = Tumbling(7 * HOUR_MS, SHANGHAI, cuts=(time(22), time(6)))
    assert w.bounds(local("2026-01-01 21:59:59")) == (local("2026-01-01 21:00"), local("2026-01-01 22:00"))
    assert w.bounds(local("2026-01-01 22:00")) == (local("2026-01-01 22:00"), local("2026-01-02 00:00"))
    assert w.bounds(local("2026-01-02 05:59:59")) == (local("2026-01-02 00:00"), local("2026-01-02 06:00"))
    assert w.bounds(local("2026-01-02 06:00")) == (local("2026-01-02 06:00"), local("2026-01-02 07:00"))


def test_a_daylight_saving_day_has_hours_of_local_time() -> None:
    w = Tumbling(HOUR_MS, "Europe/Berlin")  # 2026-03-29: 02:00 jumps to 03:00, the day has 23 hours
    assert w.bounds(local("2026-03-29 03:30", "Europe/Berlin")) == (
        local("2026-03-29 03:00", "Europe/Berlin"),
        local("2026-03-29 04:00", "Europe/Berlin"),
    )
    assert local_midnight_ms(local("2026-03-29 12:00", "Europe/Berlin"), "Europe/Berlin") == local(
        "2026-03-29 00:00", "Europe/Berlin"
    )


def test_local_day_is_the_calendar_date_in_the_zone() -> None:
    assert local_day(local("2026-01-01 23:59:59"), SHANGHAI).isoformat() == "2026-01-01"
    assert local_day(local("2026-01-02 00:00"), SHANGHAI).isoformat() == "2026-01-02"


def test_bad_windows_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        Tumbling(0)
    with pytest.raises(ValueError, match="time zone"):
        Tumbling(HOUR_MS, cuts=(time(22),))


def test_an_empty_window_round_trips_through_json() -> None:
    empty = WindowMean(0, 10)
    assert "Infinity" not in json.dumps(empty.to_dict())
    assert WindowMean.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty
    assert optional_window(None) is None


zones = st.sampled_from([SHANGHAI, "UTC", "Europe/Berlin", "America/New_York"])
lengths = st.sampled_from([60_000, 600_000, 900_000, HOUR_MS, 7 * HOUR_MS, 5 * 60_000 + 7])
instants = st.integers(local("2025-01-01 00:00"), local("2027-12-31 00:00"))
cut_sets = st.lists(st.sampled_from([time(22), time(6), time(22, 15), time(5, 59, 59)]), max_size=2)


@given(instants, lengths, st.one_of(st.none(), zones), cut_sets)
def test_windows_tile_time(ts: int, length: int, tz: str | None, cuts: list[time]) -> None:
    w = Tumbling(length, tz, tuple(cuts) if tz else ())
    start, end = w.bounds(ts)
    assert start <= ts < end and end - start <= length
    assert w.bounds(start) == (start, end)  # the start belongs to the same window
    assert w.bounds(end)[0] == end  # and the next window begins where this one ends


values = st.floats(0, 20_000, allow_nan=False)


@given(st.lists(values, min_size=1, max_size=200))
def test_running_mean_and_peak_match_numpy(xs: list[float]) -> None:
    w = WindowMean(0, 1)
    for x in xs:
        w = w.add(x)
    assert w.count == len(xs)
    assert w.mean == pytest.approx(float(np.mean(xs)), rel=1e-9, abs=1e-9)
    assert w.peak == max(xs)


@given(st.lists(st.tuples(st.integers(1, 400_000), values), min_size=1, max_size=100))
def test_advance_closes_each_window_with_the_mean_of_its_readings(rows: list[tuple[int, float]]) -> None:
    w = Tumbling(600_000, SHANGHAI)
    stream = list(zip(np.cumsum([g for g, _ in rows]).tolist(), [v for _, v in rows], strict=True))
    current, closed = None, []
    for ts, v in stream:
        current, done = advance(current, ts, v, w)
        closed += [done] if done else []
    expected = [(k, [v for _, v in grp]) for k, grp in groupby(stream, key=lambda r: w.bounds(r[0]))]
    assert [(c.start_ms, c.end_ms) for c in closed] == [k for k, _ in expected[:-1]]
    for c, (_, vs) in zip(closed, expected, strict=False):
        assert c.count == len(vs) and c.mean == pytest.approx(float(np.mean(vs)), rel=1e-9, abs=1e-9)
