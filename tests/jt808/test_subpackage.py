"""Reassembler: sub-packages in any order, duplicates, interleaved messages, limits and eviction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jt808.errors import FrameError
from jt808.frame import Header, split, unpack
from jt808.subpackage import Reassembler

PHONE = "013812345678"


def parts(body: bytes, serial: int = 100, size: int = 10, msg_id: int = 0x0801) -> list[tuple[Header, bytes]]:
    """The (header, body) pairs of a sub-packaged message, as unpack gives them."""
    return [unpack(f) for f in split(Header(msg_id, PHONE, serial), body, size)]


def test_in_order() -> None:
    body = bytes(range(35))
    r = Reassembler()
    results = [r.add(h, b) for h, b in parts(body)]
    assert results == [None, None, None, body]
    assert r.pending == 0


def test_plain_message_passes_through() -> None:
    assert Reassembler().add(Header(0x0200, PHONE, 1), b"abc") == b"abc"
    assert Reassembler().add(Header(0x0200, PHONE, 1, package=(1, 1)), b"abc") == b"abc"


def test_duplicate_part_replaces_and_does_not_complete() -> None:
    (h1, b1), (h2, b2) = parts(bytes(20))
    r = Reassembler()
    assert r.add(h1, b"old!") is None
    assert r.add(h1, b1) is None
    assert r.missing(h1) == (2,)
    assert r.add(h2, b2) == bytes(20)
    assert r.missing(h1) == ()


def test_interleaved_messages_from_the_serial_arithmetic() -> None:
    a = parts(b"A" * 30, serial=0xFFFF)  # serials FFFF, 0000, 0001: the first-serial key wraps
    b = parts(b"B" * 30, serial=0x0003)
    r = Reassembler()
    out = [r.add(h, body) for pair in zip(a, b, strict=True) for h, body in pair]
    assert out == [None, None, None, None, b"A" * 30, b"B" * 30]


@pytest.mark.parametrize("package", [(0, 0), (0, 1), (2, 0), (2, 3), (65, 1)])
def test_bad_subpackage(package: tuple[int, int]) -> None:
    with pytest.raises(FrameError) as err:
        Reassembler().add(Header(0x0801, PHONE, 5, package=package), b"x")
    assert err.value.reason == "bad_subpackage"


def test_oldest_partial_message_is_evicted() -> None:
    r = Reassembler(max_pending=2)
    first = [parts(bytes([i]) * 20, serial=i * 10) for i in range(3)]
    for message in first:
        assert r.add(*message[0]) is None
    assert r.pending == 2 and r.evicted == 1
    assert r.add(*first[0][1]) is None  # message 0 was evicted: its second part starts over
    assert r.add(*first[2][1]) == bytes([2]) * 20


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        Reassembler(max_pending=0)


@given(st.binary(min_size=1, max_size=400), st.integers(1, 64), st.randoms(use_true_random=False))
def test_any_order_reassembles(body: bytes, size: int, rnd: object) -> None:
    pieces = parts(body, size=size)
    rnd.shuffle(pieces)  # type: ignore[attr-defined]
    r = Reassembler(max_packages=400)
    results = [r.add(h, b) for h, b in pieces]
    assert results[-1] == body
    assert all(x is None for x in results[:-1])
