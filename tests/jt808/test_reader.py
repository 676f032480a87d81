"""FrameReader: splitting a TCP byte stream into frames, in any chunking, counting and dropping garbage."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jt808.errors import FrameError
from jt808.frame import MAX_FRAME_LEN, FrameReader, Header, pack

HEARTBEAT = bytes.fromhex("7e 0002 0000 013812345678 0001 32 7e")
HEARTBEAT_2 = pack(Header(0x0002, "013812345678", 2), b"")


def feed_all(reader: FrameReader, chunks: list[bytes]) -> list[bytes]:
    """Feed chunks in order and collect every frame."""
    return [frame for chunk in chunks for frame in reader.feed(chunk)]


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (taken modulo its length, sorted)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


def test_back_to_back_frames_in_one_chunk() -> None:
    reader = FrameReader()
    assert reader.feed(HEARTBEAT + HEARTBEAT_2) == [HEARTBEAT, HEARTBEAT_2]
    assert reader.garbage_bytes == 0 and reader.pending == 0


def test_frame_split_byte_by_byte() -> None:
    reader = FrameReader()
    assert feed_all(reader, [bytes((b,)) for b in HEARTBEAT + HEARTBEAT_2]) == [HEARTBEAT, HEARTBEAT_2]


def test_garbage_between_and_around_frames_is_counted_and_dropped() -> None:
    reader = FrameReader()
    frames = reader.feed(b"AT+OK\r\n" + HEARTBEAT + b"xyz" + HEARTBEAT_2 + b"tail")
    assert frames == [HEARTBEAT, HEARTBEAT_2]
    assert reader.garbage_bytes == 7 + 3 + 4
    assert reader.feed(b"more") == [] and reader.garbage_bytes == 18


def test_empty_frames_are_not_frames() -> None:
    reader = FrameReader()
    assert reader.feed(b"\x7e\x7e\x7e\x7e") == []
    assert reader.feed(HEARTBEAT[1:]) == [HEARTBEAT]  # the last 0x7E opened the heartbeat
    assert reader.garbage_bytes == 0


def test_resynchronises_after_a_lost_flag() -> None:
    # a lost closing 0x7E: the next frame's opening flag closes the first, the next frame's body reads as
    # garbage and its closing flag opens an empty frame; from the following frame on all is in step again
    reader = FrameReader()
    assert reader.feed(HEARTBEAT[:-1] + HEARTBEAT_2 + HEARTBEAT + HEARTBEAT) == [HEARTBEAT] * 3
    assert reader.garbage_bytes == len(HEARTBEAT_2) - 2
    # a lost opening 0x7E: that frame is lost, the one after it is not
    reader = FrameReader()
    assert reader.feed(HEARTBEAT + HEARTBEAT_2[1:] + HEARTBEAT) == [HEARTBEAT] * 2
    assert reader.garbage_bytes == len(HEARTBEAT_2) - 2


def test_too_long_raises_and_poisons_the_reader() -> None:
    reader = FrameReader(max_frame=20)
    with pytest.raises(FrameError) as err:
        reader.feed(b"\x7e" + bytes(20))
    assert err.value.reason == "too_long"
    assert reader.overflowed and reader.pending == 0
    with pytest.raises(FrameError):
        reader.feed(HEARTBEAT)


def test_too_long_returns_earlier_frames_first() -> None:
    reader = FrameReader(max_frame=20)
    assert reader.feed(HEARTBEAT + b"\x7e" + bytes(30)) == [HEARTBEAT]
    assert reader.overflowed
    with pytest.raises(FrameError) as err:
        reader.feed(b"")
    assert err.value.reason == "too_long"


def test_too_long_complete_frame_in_one_chunk() -> None:
    reader = FrameReader(max_frame=len(HEARTBEAT) - 1)
    with pytest.raises(FrameError) as err:
        reader.feed(HEARTBEAT)
    assert err.value.reason == "too_long"


def test_frame_of_exactly_max_frame_bytes_passes() -> None:
    reader = FrameReader(max_frame=len(HEARTBEAT))
    assert feed_all(reader, [HEARTBEAT[:-1], HEARTBEAT[-1:]]) == [HEARTBEAT]


def test_longest_legal_frame_needs_max_frame_len() -> None:
    header = Header(0x7E7E, "00000000013812345678", 0x7E7E, version=0x7E, package=(0x7E7E, 0x7E7E))
    frame = pack(header, b"\x7d" * 1023)
    assert 2048 < len(frame) <= MAX_FRAME_LEN
    assert FrameReader(max_frame=MAX_FRAME_LEN).feed(frame) == [frame]
    with pytest.raises(FrameError):
        FrameReader().feed(frame)


def test_accepts_bytearray_and_memoryview() -> None:
    reader = FrameReader()
    assert reader.feed(bytearray(HEARTBEAT[:5])) == []
    assert reader.feed(memoryview(HEARTBEAT[5:])) == [HEARTBEAT]


_GARBAGE = st.binary(max_size=12).map(lambda b: b.replace(b"\x7e", b""))
_CONTENT = st.binary(min_size=1, max_size=40).map(lambda b: b.replace(b"\x7e", b"\x7d\x02"))
_FRAMES = st.lists(_CONTENT.map(lambda b: b"\x7e" + b + b"\x7e"), max_size=8)


@given(_FRAMES, st.lists(_GARBAGE, min_size=9, max_size=9), st.lists(st.integers(0, 10_000), max_size=20))
def test_any_chunking_gives_the_same_frames_and_garbage(
    frames: list[bytes], garbage: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(g + f for g, f in zip(garbage, [*frames, b""], strict=False))
    reader = FrameReader()
    assert feed_all(reader, chunked(stream, cuts)) == frames
    assert reader.garbage_bytes == sum(len(g) for g in garbage[: len(frames) + 1])
    assert reader.pending == 0
