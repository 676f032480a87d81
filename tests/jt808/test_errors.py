"""FrameError: one triggering input per reason (the table must cover them all), and the error's shape."""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

from jt808.bcd import parse_bcd_time
from jt808.errors import REASONS, FrameError
from jt808.frame import FrameReader, Header, unescape, unpack
from jt808.messages import decode_body
from jt808.subpackage import Reassembler

HEARTBEAT = bytes.fromhex("7e 0002 0000 013812345678 0001 32 7e")

TRIGGERS: dict[str, Callable[[], object]] = {
    "bad_escape": lambda: unescape(bytes.fromhex("30 7d 03")),
    "bad_checksum": lambda: unpack(HEARTBEAT[:-2] + b"\x33\x7e"),
    "too_short": lambda: unpack(HEARTBEAT[:8] + b"\x7e"),
    "too_long": lambda: FrameReader(max_frame=10).feed(HEARTBEAT),
    "length_mismatch": lambda: unpack(bytes.fromhex("7e 0002 0001 013812345678 0001 33 7e")),
    "bad_bcd": lambda: parse_bcd_time(bytes.fromhex("250230000000")),  # 30 February
    "bad_body": lambda: decode_body(Header(0x8001, "013812345678", 0), b"\x00\x01"),
    "bad_subpackage": lambda: Reassembler().add(Header(0x0801, "013812345678", 0, package=(2, 3)), b""),
}


def test_every_reason_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(REASONS)


@pytest.mark.parametrize("reason", REASONS)
def test_reason_is_raised(reason: str) -> None:
    with pytest.raises(FrameError) as err:
        TRIGGERS[reason]()
    assert err.value.reason == reason


def test_frame_error_shape() -> None:
    err = FrameError("bad_body", "general response needs 5 bytes, got 2")
    assert isinstance(err, ValueError)
    assert err.reason == "bad_body" and err.message.startswith("general response")
    assert str(err) == "bad_body: general response needs 5 bytes, got 2"
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.reason, copy.message) == (err.reason, err.message)
