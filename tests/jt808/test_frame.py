"""Frames: escaping, the check byte, both header versions and pack / unpack / split, byte for byte."""

from __future__ import annotations

from functools import reduce
from operator import xor

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jt808.errors import FrameError
from jt808.frame import (
    FLAG,
    MAX_FRAME_LEN,
    Header,
    checksum,
    decode_header,
    encode_header,
    escape,
    pack,
    split,
    unescape,
    unpack,
)
from tests.jt808.strategies import headers


def hexb(text: str) -> bytes:
    """Bytes from spaced hex."""
    return bytes.fromhex(text)


# --- escaping and the check byte -------------------------------------------------------------------------


def test_escape_examples() -> None:
    assert escape(hexb("30 7e 08 7d 55")) == hexb("30 7d 02 08 7d 01 55")
    assert escape(hexb("7d 02")) == hexb("7d 01 02")  # an escape byte followed by 02 is not a flag
    assert escape(b"") == b""


def test_unescape_examples() -> None:
    assert unescape(hexb("30 7d 02 08 7d 01 55")) == hexb("30 7e 08 7d 55")
    assert unescape(hexb("7d 01 02")) == hexb("7d 02")
    assert unescape(hexb("7d 01 7d 02 7d 01")) == hexb("7d 7e 7d")


@pytest.mark.parametrize("data", ["7d", "01 7d", "7d 03", "7d 00", "7d 7d 01", "7d 7e", "30 7e 31"])
def test_unescape_rejects_bad_escapes(data: str) -> None:
    with pytest.raises(FrameError) as err:
        unescape(hexb(data))
    assert err.value.reason == "bad_escape"


@given(st.binary(max_size=300))
def test_escape_round_trip(data: bytes) -> None:
    escaped = escape(data)
    assert FLAG not in escaped
    assert unescape(escaped) == data
    assert len(escaped) == len(data) + data.count(0x7E) + data.count(0x7D)


@given(st.binary(max_size=3000))
def test_checksum_is_xor_of_all_bytes(data: bytes) -> None:
    assert checksum(data) == reduce(xor, data, 0)


# --- the commonly published heartbeat -----------------------------------------------------------------

# 7E | 0002 msg id | 0000 properties (length 0) | 01 38 12 34 56 78 phone 013812345678 | 0001 serial | 32 | 7E
# check byte by hand: 02 ^ 01 = 03, ^ 38 = 3B, ^ 12 = 29, ^ 34 = 1D, ^ 56 = 4B, ^ 78 = 33, ^ 01 (serial) = 32
HEARTBEAT = "7e 0002 0000 013812345678 0001 32 7e"


def test_heartbeat_frame() -> None:
    header = Header(0x0002, "013812345678", 1)
    assert pack(header, b"") == hexb(HEARTBEAT)
    assert unpack(hexb(HEARTBEAT)) == (header, b"")
    assert unpack(hexb(HEARTBEAT)[1:-1]) == (header, b"")  # delimiters are optional


@pytest.mark.parametrize(
    ("frame", "phone", "serial"),
    [
        # heartbeats published in other JT/T 808 projects' docs and tests (unpack checks their check bytes)
        ("7e 0002 0000 012345678901 0000 8a 7e", "012345678901", 0),
        ("7e 0002 0000 014533224352 0004 42 7e", "014533224352", 4),
        ("7e 0002 0000 013888888888 042f 10 7e", "013888888888", 0x042F),
        ("7e 0002 0000 013800000001 0001 3b 7e", "013800000001", 1),
    ],
)
def test_published_heartbeats(frame: str, phone: str, serial: int) -> None:
    assert unpack(hexb(frame)) == (Header(0x0002, phone, serial), b"")
    assert pack(Header(0x0002, phone, serial), b"") == hexb(frame)


# --- headers --------------------------------------------------------------------------------------------


def test_2013_subpackage_header() -> None:
    header = Header(0x0801, "013812345678", 0x0100, package=(3, 2))
    raw = encode_header(header, 1023)
    # 0801 | 23FF: bit 13 sub-package + length 0x3FF | phone | 0100 serial | 0003 total | 0002 index
    assert raw == hexb("0801 23ff 013812345678 0100 0003 0002")
    assert decode_header(raw) == (header, 16)


def test_2019_header_with_encryption_and_subpackage() -> None:
    header = Header(0x0200, "00000000013812345678", 0xFFFF, version=1, encryption=1, package=(2, 1))
    raw = encode_header(header, 0x28)
    # 0200 | 6428: bit 14 version flag + bit 13 sub-package + bit 10 RSA + length 0x28 | 01 version
    # | 00000000013812345678 phone BCD[10] | FFFF serial | 0002 total | 0001 index
    assert raw == hexb("0200 6428 01 00000000013812345678 ffff 0002 0001")
    assert decode_header(raw) == (header, 21)
    assert header.is_2019 and not Header(0x0200, "013812345678", 0).is_2019


def test_decode_header_ignores_reserved_bit_15() -> None:
    header, length = decode_header(hexb("0002 8000 013812345678 0001"))
    assert (header, length) == (Header(0x0002, "013812345678", 1), 12)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "00",
        "0002 00",
        "0002 0000 0138123456",
        "0002 2000 013812345678 0001 00",
        "0002 4000 01 00000000013812345678",
    ],
)
def test_decode_header_too_short(raw: str) -> None:
    with pytest.raises(FrameError) as err:
        decode_header(hexb(raw))
    assert err.value.reason == "too_short"


def test_decode_header_bad_bcd_phone() -> None:
    with pytest.raises(FrameError) as err:
        decode_header(hexb("0002 0000 01381234567a 0001"))
    assert err.value.reason == "bad_bcd"


@pytest.mark.parametrize(
    ("header", "length"),
    [
        (Header(0x10000, "013812345678", 0), 0),
        (Header(2, "013812345678", 0x10000), 0),
        (Header(2, "0138123456789", 0), 0),  # 13 digits in a 2013 header
        (Header(2, "01381234567x", 0), 0),
        (Header(2, "013812345678", 0, encryption=8), 0),
        (Header(2, "013812345678", 0, version=256), 0),
        (Header(2, "013812345678", 0, package=(0x10000, 1)), 0),
        (Header(2, "013812345678", 0), 1024),
    ],
)
def test_encode_header_rejects_out_of_range(header: Header, length: int) -> None:
    with pytest.raises(ValueError):
        encode_header(header, length)


@given(
    headers(),
    st.integers(0, 1023),
    st.integers(0, 7),
    st.none() | st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF)),
)
def test_header_round_trip(header: Header, length: int, encryption: int, package: tuple[int, int] | None) -> None:
    header = Header(header.msg_id, header.phone, header.serial, header.version, encryption, package)
    raw = encode_header(header, length)
    assert decode_header(raw + b"tail") == (header, len(raw))
    assert int.from_bytes(raw[2:4], "big") & 0x3FF == length


# --- escaping inside a frame -------------------------------------------------------------------------------

# 0x8001 answering serial 0x7E7D, message 0x0200, result 0, sent with serial 0x00CA:
# content 8001 0005 013812345678 00CA | 7E7D 0200 00, check byte by hand: 80^01 = 81, ^05 = 84, ^01 = 85,
# ^38 = BD, ^12 = AF, ^34 = 9B, ^56 = CD, ^78 = B5, ^CA = 7F, ^7E = 01, ^7D = 7C, ^02 = 7E: escaped too
ESCAPED = "7e 8001 0005 013812345678 00ca 7d02 7d01 0200 00 7d02 7e"


def test_escaping_in_body_and_check_byte() -> None:
    header = Header(0x8001, "013812345678", 0xCA)
    body = hexb("7e7d 0200 00")
    assert reduce(xor, hexb("8001 0005 013812345678 00ca 7e7d 0200 00")) == 0x7E
    assert pack(header, body) == hexb(ESCAPED)
    assert unpack(hexb(ESCAPED)) == (header, body)


# --- unpack errors ------------------------------------------------------------------------------------------


def test_unpack_bad_checksum() -> None:
    frame = bytearray(hexb(HEARTBEAT))
    frame[-2] ^= 0x01
    with pytest.raises(FrameError) as err:
        unpack(bytes(frame))
    assert err.value.reason == "bad_checksum"


@pytest.mark.parametrize("frame", ["7e7e", "7e 0002 0000 013812345678 00 7e", "", "7e"])
def test_unpack_too_short(frame: str) -> None:
    with pytest.raises(FrameError) as err:
        unpack(hexb(frame))
    assert err.value.reason == "too_short"


def test_unpack_too_short_for_2019_header() -> None:
    content = hexb("0002 4000 01 0000000001381234")  # 13 bytes: enough for 2013, not for a 2019 header
    with pytest.raises(FrameError) as err:
        unpack(content + bytes((reduce(xor, content),)))
    assert err.value.reason == "too_short"


@pytest.mark.parametrize(
    "content",
    [
        "0002 0001 013812345678 0001",  # says 1 byte, body is empty
        "0002 0000 013812345678 0001 00",  # says 0 bytes, body has 1
        "8001 0105 013812345678 00ca 7e7d 0200 00",  # says 0x105 bytes (bits 8-9 count too)
    ],
)
def test_unpack_length_mismatch(content: str) -> None:
    raw = hexb(content)
    with pytest.raises(FrameError) as err:
        unpack(b"\x7e" + escape(raw + bytes((reduce(xor, raw),))) + b"\x7e")
    assert err.value.reason == "length_mismatch"


def test_unpack_bad_escape_and_raw_flag() -> None:
    for frame in ("7e 0002 0000 013812345678 0001 7d03 7e", "7e 0002 7e 0000 013812345678 0001 32 7e"):
        with pytest.raises(FrameError) as err:
            unpack(hexb(frame))
        assert err.value.reason == "bad_escape"


def test_pack_rejects_body_over_1023_bytes() -> None:
    with pytest.raises(ValueError):
        pack(Header(0x0801, "013812345678", 0), bytes(1024))


# --- split ----------------------------------------------------------------------------------------------


def test_split_serials_and_package_words() -> None:
    header = Header(0x0704, "013812345678", 0xFFFE)
    body = bytes(range(256)) * 10  # 2560 bytes -> 1023 + 1023 + 514
    frames = split(header, body)
    decoded = [unpack(f) for f in frames]
    assert [h.package for h, _ in decoded] == [(3, 1), (3, 2), (3, 3)]
    assert [h.serial for h, _ in decoded] == [0xFFFE, 0xFFFF, 0x0000]  # serials wrap
    assert b"".join(b for _, b in decoded) == body
    assert [len(b) for _, b in decoded] == [1023, 1023, 514]


def test_split_small_body_is_one_plain_frame() -> None:
    header = Header(0x0200, "013812345678", 5, package=(9, 9))
    assert split(header, b"abc") == [pack(Header(0x0200, "013812345678", 5), b"abc")]


def test_split_size_argument() -> None:
    frames = split(Header(0x0900, "013812345678", 0), bytes(10), size=4)
    assert [unpack(f)[0].package for f in frames] == [(3, 1), (3, 2), (3, 3)]
    for bad in (0, 1024):
        with pytest.raises(ValueError):
            split(Header(0x0900, "013812345678", 0), bytes(10), size=bad)


def test_longest_legal_frame() -> None:
    header = Header(0x0801, "00000000013812345678", 0, version=1, package=(1, 1))
    frame = pack(header, b"\x7e" * 1023)
    assert len(frame) <= MAX_FRAME_LEN
    assert unpack(frame) == (header, b"\x7e" * 1023)
