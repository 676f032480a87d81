"""Fuzz: whatever arrives on the wire, the codec raises FrameError and nothing else (no IndexError,
struct.error, UnicodeDecodeError, ...). 11,000 generated cases in all (see ``max_examples``)."""

from __future__ import annotations

from dataclasses import replace
from functools import reduce
from itertools import pairwise
from operator import xor

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jt808.bcd import parse_bcd_time
from jt808.errors import REASONS, FrameError
from jt808.frame import (
    FrameReader,
    Header,
    decode_header,
    encode_header,
    escape,
    pack,
    split,
    unpack,
)
from jt808.location import BatchLocation, LocationReport
from jt808.messages import (
    Authenticate,
    Heartbeat,
    PlatformResponse,
    Register,
    RegisterResponse,
    TerminalResponse,
    Unregister,
    decode_body,
)
from jt808.subpackage import Reassembler
from tests.jt808.strategies import headers, messages

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KNOWN_IDS = [0x0001, 0x0002, 0x0003, 0x0100, 0x0102, 0x0200, 0x0704, 0x8001, 0x8100]

# bytes biased towards the ones that matter: flags, escapes, their second bytes, zero and 0xFF
WIRE_BYTE = st.sampled_from([0x7E, 0x7D, 0x01, 0x02, 0x00, 0xFF]) | st.integers(0, 255)
WIRE = st.lists(WIRE_BYTE, max_size=300).map(bytes)


def decode_all(frame: bytes, reassembler: Reassembler) -> None:
    """The gateway's path for one frame; FrameError is the only acceptable failure."""
    try:
        header, body = unpack(frame)
        whole = reassembler.add(header, body)
        if whole is not None:
            event(f"decoded {type(decode_body(header, whole)).__name__}")
    except FrameError as err:
        assert err.reason in REASONS
        event(err.reason)


@settings(FUZZ, max_examples=3000)
@given(st.binary(max_size=200) | WIRE)
def test_fuzz_unpack(data: bytes) -> None:
    decode_all(data, Reassembler())
    decode_all(b"\x7e" + data + b"\x7e", Reassembler())


POOL = [  # valid frames of each version, plain and sub-packaged, to mix with noise
    pack(Header(0x0002, "013812345678", 1), b""),
    pack(
        Header(0x0200, "00000000013812345678", 2, version=1),
        bytes.fromhex("00000002 00000303 01d29d20 06cfc640 0019 0163 005a 250601083000 01040001e240 300119 31010c"),
    ),
    *split(
        Header(0x0704, "013812345678", 0xFFFF),
        bytes.fromhex(
            "0002 01 001c 00000000 00000006 0204cc00 09034554 003a 0000 0000 250101000000"
            " 001c 00000000 0000000a 0311f0c8 0001f338 000b 0064 010e 250101000030"
        ),
        size=20,
    ),
]
STREAM = st.lists(st.sampled_from(POOL) | WIRE, max_size=8).map(b"".join)


@settings(FUZZ, max_examples=2000)
@given(STREAM, st.lists(st.integers(0, 1000), max_size=10), st.integers(14, 400))
def test_fuzz_stream(stream: bytes, cuts: list[int], max_frame: int) -> None:
    reader = FrameReader(max_frame=max_frame)
    reassembler = Reassembler(max_packages=8, max_pending=2)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    try:
        for a, b in pairwise(points):
            for frame in reader.feed(stream[a:b]):
                assert frame[0] == frame[-1] == 0x7E and len(frame) <= max_frame and 0x7E not in frame[1:-1]
                decode_all(frame, reassembler)
    except FrameError as err:
        assert err.reason == "too_long"


_LOCATION = LocationReport(
    2,
    0x303,
    -30_580_000,
    114_280_000,
    25,
    355,
    90,
    1_748_737_800_000,
    ((0x01, b"\x00\x01\xe2\x40"), (0x30, b"\x19"), (0xE1, b"")),
)
VALID = [  # (is_2019, message): valid bodies whose prefixes, plus noise, probe every length check
    (v, m)
    for v in (False, True)
    for m in (
        TerminalResponse(1, 0x8103, 0),
        PlatformResponse(7, 0x0200, 4),
        Heartbeat(),
        Unregister(),
        Register(42, 100, "CWTCH", "CW-808", "T000123", 2, "鄂A·D3101"),
        RegisterResponse(1, 0, "AUTH1234"),
        RegisterResponse(1, 2),
        _LOCATION,
        BatchLocation(1, (_LOCATION, _LOCATION)),
    )
] + [(False, Authenticate("AUTH1234")), (True, Authenticate("AUTH1234", "861234567890123", "V1.2.3"))]


@st.composite
def bodies(draw: st.DrawFn) -> tuple[int, bool, bytes]:
    """A message id, version and body: random, or a valid body cut anywhere with noise appended."""
    if draw(st.booleans()):
        return draw(st.sampled_from(KNOWN_IDS) | st.integers(0, 0xFFFF)), draw(st.booleans()), draw(WIRE)
    is_2019, message = draw(st.sampled_from(VALID))
    body = message.encode(is_2019)  # type: ignore[attr-defined]
    cut = draw(st.integers(0, len(body)))
    return message.MSG_ID, is_2019, body[:cut] + draw(st.binary(max_size=4) | WIRE)  # type: ignore[attr-defined]


@settings(FUZZ, max_examples=3000)
@given(bodies())
def test_fuzz_decode_body(case: tuple[int, bool, bytes]) -> None:
    msg_id, is_2019, body = case
    header = Header(msg_id, "0" * (20 if is_2019 else 12), 0, version=1 if is_2019 else None)
    try:
        event(f"decoded {type(decode_body(header, body)).__name__}")
    except FrameError as err:
        assert err.reason in REASONS
        event(err.reason)


MUTATION = st.tuples(st.sampled_from(["set"] * 4 + ["insert", "delete", "truncate"]), st.integers(0, 5000), WIRE_BYTE)


# mostly the fixed valid bodies (cheap to draw), sometimes a freshly generated message of any shape
BASES = st.one_of(*[st.sampled_from(VALID)] * 3, st.booleans().flatmap(lambda v: st.tuples(st.just(v), messages(v))))


@settings(FUZZ, max_examples=2000)
@given(
    BASES,
    st.data(),
    st.lists(MUTATION, min_size=1, max_size=3),
    st.booleans(),
    st.sampled_from([True, True, True, False]),
)
def test_fuzz_mutated_frames(
    item: tuple[bool, object],
    data: st.DataObject,
    mutations: list[tuple[str, int, int]],
    fix_length: bool,
    fix_checksum: bool,
) -> None:
    is_2019, message = item
    header = replace(data.draw(headers(is_2019=is_2019)), msg_id=message.MSG_ID)  # type: ignore[attr-defined]
    body = message.encode(is_2019)[:1023]  # type: ignore[attr-defined]
    content = bytearray(encode_header(header, len(body)) + body)
    for op, at, value in mutations:  # mutate header and body alike, so deeper decoders see near-valid input
        at %= len(content) + 1
        if op == "set" and at < len(content):
            content[at] = value
        elif op == "insert":
            content.insert(at, value)
        elif op == "delete" and at < len(content):
            del content[at]
        elif op == "truncate":
            del content[at:]
    if fix_length and len(content) >= 4:  # keep the length field honest so the body decoders run
        head = 17 if content[2] & 0x40 else 12
        head += 4 if content[2] & 0x20 else 0
        length = max(0, min(len(content) - head, 0x3FF))
        content[2] = content[2] & 0xFC | length >> 8
        content[3] = length & 0xFF
    check = reduce(xor, content, 0) if fix_checksum else (reduce(xor, content, 0) ^ 1)
    decode_all(b"\x7e" + escape(bytes(content) + bytes((check,))) + b"\x7e", Reassembler())


@settings(FUZZ, max_examples=1000)
@given(st.binary(min_size=0, max_size=8), WIRE)
def test_fuzz_bcd_time_and_header(time_bytes: bytes, header_bytes: bytes) -> None:
    for fn, arg in ((parse_bcd_time, time_bytes), (decode_header, header_bytes)):
        try:
            fn(arg)
        except FrameError as err:
            assert err.reason in REASONS
