"""Round trips through the whole path: encode -> split / pack -> FrameReader in random chunks -> unpack
-> Reassembler -> decode_body gives back the original message, for every message kind and both versions."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jt808.frame import FrameReader, Header, unpack
from jt808.frame import split as split_frames
from jt808.location import BatchLocation, LocationReport
from jt808.messages import decode_body
from jt808.subpackage import Reassembler
from tests.jt808.strategies import KINDS, headers, message_kind, messages

MESSAGES = st.booleans().flatmap(lambda v: st.tuples(st.just(v), messages(v)))


def send(header: Header, message: object, is_2019: bool) -> list[bytes]:
    """The frames of one message (sub-packaged when its body needs it)."""
    return split_frames(header, message.encode(is_2019))  # type: ignore[attr-defined]


def receive(stream: list[bytes]) -> list[tuple[Header, object]]:
    """Read chunks as the gateway does; give (header of the first part, without package words; message)."""
    reader = FrameReader()
    reassembler = Reassembler(max_packages=1024)
    received: list[tuple[Header, object]] = []
    for chunk in stream:
        for frame in reader.feed(chunk):
            header, body = unpack(frame)
            whole = reassembler.add(header, body)
            if whole is not None:
                index = header.package[1] if header.package else 1
                first = replace(header, serial=(header.serial - index + 1) & 0xFFFF, package=None)
                received.append((first, decode_body(header, whole)))
    assert reader.garbage_bytes == 0 and reader.pending == 0 and reassembler.pending == 0
    return received


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (modulo its length)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in pairwise(points)]


@pytest.mark.parametrize("is_2019", [False, True], ids=["2013", "2019"])
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), cuts=st.lists(st.integers(0, 100_000), max_size=12))
def test_each_kind_round_trips(kind: str, is_2019: bool, data: st.DataObject, cuts: list[int]) -> None:
    message = data.draw(message_kind(kind, is_2019))
    header = replace(data.draw(headers(is_2019=is_2019)), msg_id=message.MSG_ID)  # type: ignore[attr-defined]
    frames = send(header, message, is_2019)
    assert receive(chunks(b"".join(frames), cuts)) == [(header, message)]


@settings(max_examples=200, deadline=None)
@given(st.lists(MESSAGES, min_size=1, max_size=6), st.data(), st.lists(st.integers(0, 100_000), max_size=30))
def test_mixed_stream_round_trip(items: list[tuple[bool, object]], data: st.DataObject, cuts: list[int]) -> None:
    sent = []
    stream = b""
    for is_2019, message in items:
        header = replace(data.draw(headers(is_2019=is_2019)), msg_id=message.MSG_ID)  # type: ignore[attr-defined]
        sent.append((header, message))
        stream += b"".join(send(header, message, is_2019))
    assert receive(chunks(stream, cuts)) == sent


def test_big_batch_is_sub_packaged() -> None:
    report = LocationReport(0, 2, 30_580_000, 114_280_000, 25, 355, 90, 1_748_737_800_000, ((0x01, bytes(4)),) * 3)
    batch = BatchLocation(0, (report,) * 60)
    header = Header(BatchLocation.MSG_ID, "013812345678", 0xFFFE)
    frames = send(header, batch, False)
    assert len(frames) == 3
    assert receive([b"".join(frames)]) == [(header, batch)]
