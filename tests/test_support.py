"""The test helpers' own checks: recorded traffic is moved clear of the collection deadline at midnight."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.support import clear_of_midnight, recorded_start_ms

ZONE = ZoneInfo("Asia/Shanghai")


def at(local: str) -> int:
    return int(datetime.fromisoformat(local).replace(tzinfo=ZONE).timestamp() * 1000)


@pytest.mark.parametrize(
    ("end", "moved_to"),
    [
        ("2026-12-05T12:00:00", "2026-12-05T12:00:00"),  # midday: as asked
        ("2026-12-06T01:20:00", "2026-12-06T01:20:00"),  # the window starts after midnight
        ("2026-12-06T00:06:00", "2026-12-05T23:56:00"),  # it would cross midnight: back before 23:58
        ("2026-12-06T00:40:00", "2026-12-06T00:40:00"),  # starts at 00:05: a new day, watched from its start
        ("2026-12-06T00:20:00", "2026-12-05T23:55:00"),
    ],
)
def test_a_window_is_moved_back_until_it_neither_crosses_midnight_nor_starts_late(end: str, moved_to: str) -> None:
    assert clear_of_midnight(at(end), 2100, "Asia/Shanghai") == at(moved_to)


def test_a_short_window_starting_after_23_45_is_moved_too() -> None:
    assert clear_of_midnight(at("2026-12-05T23:52:00"), 300, "Asia/Shanghai") == at("2026-12-05T23:47:00")


def test_recorded_traffic_ends_a_minute_ago_unless_that_window_sees_midnight() -> None:
    assert recorded_start_ms(600, "Asia/Shanghai", at("2026-12-05T12:00:00")) == at("2026-12-05T11:49:00")
    assert recorded_start_ms(600, "Asia/Shanghai", at("2026-12-06T00:05:00")) == at("2026-12-05T23:44:00")
