"""BCD digits and the 6-byte BCD time in Beijing time (UTC+8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jt808.bcd import bcd_decode, bcd_encode, bcd_time, parse_bcd_time
from jt808.errors import FrameError
from tests.jt808.strategies import TIMESTAMPS, TS_MAX_S, TS_MIN_S

CST = timezone(timedelta(hours=8))


def test_bcd_encode_pads_left() -> None:
    assert bcd_encode("13812345678", 6) == bytes.fromhex("013812345678")
    assert bcd_encode("", 2) == bytes(2)
    assert bcd_encode("13812345678", 10) == bytes.fromhex("00000000013812345678")


@pytest.mark.parametrize(("digits", "size"), [("1234567", 3), ("12a4", 2), ("１２", 2), ("-1", 1)])
def test_bcd_encode_rejects(digits: str, size: int) -> None:
    with pytest.raises(ValueError):
        bcd_encode(digits, size)


def test_bcd_decode_keeps_leading_zeros() -> None:
    assert bcd_decode(bytes.fromhex("000000000138")) == "000000000138"
    assert bcd_decode(b"") == ""


@pytest.mark.parametrize("raw", ["0a", "a0", "ff", "12 3f"])
def test_bcd_decode_rejects_non_decimal_nibbles(raw: str) -> None:
    with pytest.raises(FrameError) as err:
        bcd_decode(bytes.fromhex(raw))
    assert err.value.reason == "bad_bcd"


@given(st.text(alphabet="0123456789", max_size=20))
def test_bcd_digits_round_trip(digits: str) -> None:
    assert bcd_decode(bcd_encode(digits, 10)) == digits.rjust(20, "0")


def test_bcd_time_is_beijing_time() -> None:
    # 2025-06-01 08:30:00 in Beijing is 00:30:00 UTC
    ts_ms = int(datetime(2025, 6, 1, 0, 30, tzinfo=UTC).timestamp() * 1000)
    assert bcd_time(ts_ms) == bytes.fromhex("250601083000")
    assert parse_bcd_time(bytes.fromhex("250601083000")) == ts_ms
    # the day changes at 16:00 UTC
    assert bcd_time(int(datetime(2024, 2, 28, 16, 0, tzinfo=UTC).timestamp() * 1000)) == bytes.fromhex("240229000000")


def test_bcd_time_limits_and_sub_seconds() -> None:
    assert bcd_time(TS_MIN_S * 1000) == bytes.fromhex("000101000000")
    assert bcd_time(TS_MAX_S * 1000 + 999) == bytes.fromhex("991231235959")  # milliseconds dropped
    for ts_ms in (TS_MIN_S * 1000 - 1, (TS_MAX_S + 1) * 1000):
        with pytest.raises(ValueError):
            bcd_time(ts_ms)


@pytest.mark.parametrize(
    "raw",
    [
        "250229000000",  # 2025 is no leap year
        "251301000000",  # month 13
        "250100000000",  # day 0
        "250431000000",  # 31 April
        "250601240000",  # hour 24
        "250601086000",  # minute 60
        "250601083060",  # second 60
        "000000000000",  # all zero (what some terminals send without a fix)
        "2506010830",  # too short
        "25060108300a",  # a hex nibble
    ],
)
def test_parse_bcd_time_rejects(raw: str) -> None:
    with pytest.raises(FrameError) as err:
        parse_bcd_time(bytes.fromhex(raw))
    assert err.value.reason == "bad_bcd"


@given(TIMESTAMPS)
def test_bcd_time_round_trip(ts_ms: int) -> None:
    raw = bcd_time(ts_ms)
    assert parse_bcd_time(raw) == ts_ms
    assert raw.hex() == datetime.fromtimestamp(ts_ms / 1000, CST).strftime("%y%m%d%H%M%S")
