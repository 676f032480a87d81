"""Hypothesis strategies for JT/T 808 headers and message bodies, shared by the round-trip and fuzz tests."""

from __future__ import annotations

import string

from hypothesis import strategies as st

from jt808.frame import Header
from jt808.location import BatchLocation, LocationReport
from jt808.messages import (
    Authenticate,
    Heartbeat,
    PlatformResponse,
    Register,
    RegisterResponse,
    TerminalResponse,
    Unregister,
)

WORD = st.integers(0, 0xFFFF)
DWORD = st.integers(0, 0xFFFF_FFFF)
BYTE = st.integers(0, 0xFF)
VERSIONS = st.booleans()  # is_2019

# 2000-01-01T00:00:00+08:00 .. 2099-12-31T23:59:59+08:00, whole seconds (the BCD time has no sub-seconds)
TS_MIN_S = 946_656_000
TS_MAX_S = 4_102_415_999
TIMESTAMPS = st.integers(TS_MIN_S, TS_MAX_S).map(lambda s: s * 1000)

_ID_CHARS = string.ascii_letters + string.digits + "-_ ."
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_CHARS = _PROVINCES + "使领学警挂·" + string.ascii_uppercase + string.digits


def ascii_text(max_size: int) -> st.SearchStrategy[str]:
    """Printable ASCII without 0x00 (the padding byte), up to ``max_size`` characters."""
    return st.text(alphabet=_ID_CHARS, max_size=max_size)


def headers(msg_id: int | None = None, is_2019: bool | None = None) -> st.SearchStrategy[Header]:
    """Headers of either version, without sub-package words."""

    @st.composite
    def build(draw: st.DrawFn) -> Header:
        v2019 = draw(VERSIONS) if is_2019 is None else is_2019
        digits = 20 if v2019 else 12
        return Header(
            msg_id=draw(WORD) if msg_id is None else msg_id,
            phone=draw(st.text(alphabet=string.digits, min_size=digits, max_size=digits)),
            serial=draw(WORD),
            version=draw(BYTE) if v2019 else None,
            encryption=0,
        )

    return build()


def extras() -> st.SearchStrategy[tuple[tuple[int, bytes], ...]]:
    """Additional-information items, known and unknown ids."""
    item = st.tuples(BYTE, st.binary(max_size=12))
    return st.lists(item, max_size=5).map(tuple)


def location_reports() -> st.SearchStrategy[LocationReport]:
    """Location reports over the whole wire range, south / west included."""
    return st.builds(
        LocationReport,
        alarm=DWORD,
        status=DWORD,
        lat_e6=st.integers(-90_000_000, 90_000_000),
        lon_e6=st.integers(-180_000_000, 180_000_000),
        altitude_m=WORD,
        speed_dkmh=WORD,
        direction=st.integers(0, 359),
        ts_ms=TIMESTAMPS,
        extras=extras(),
    )


def batches() -> st.SearchStrategy[BatchLocation]:
    """Batches of 0..40 reports (big ones need sub-packages)."""
    reports = st.lists(location_reports(), max_size=40).map(tuple)
    return st.builds(BatchLocation, kind=st.integers(0, 1), reports=reports)


def registers(is_2019: bool) -> st.SearchStrategy[Register]:
    """Registrations that fit the version's field widths."""
    maker, model, terminal_id = (11, 30, 30) if is_2019 else (5, 20, 7)
    return st.builds(
        Register,
        province=WORD,
        city=WORD,
        maker=ascii_text(maker),
        model=ascii_text(model),
        terminal_id=ascii_text(terminal_id),
        plate_color=BYTE,
        plate=st.text(alphabet=_PLATE_CHARS, max_size=10),
    )


def authentications(is_2019: bool) -> st.SearchStrategy[Authenticate]:
    """Authentications of the version's shape."""
    if not is_2019:
        return st.builds(Authenticate, auth_code=ascii_text(40))
    return st.builds(
        Authenticate,
        auth_code=ascii_text(60),
        imei=st.text(alphabet=string.digits, max_size=15),
        software_version=ascii_text(20),
    )


def register_responses() -> st.SearchStrategy[RegisterResponse]:
    """Registration responses: a code on success only."""
    ok = st.builds(RegisterResponse, serial=WORD, result=st.just(0), auth_code=ascii_text(40))
    refused = st.builds(RegisterResponse, serial=WORD, result=st.integers(1, 255))
    return ok | refused


KINDS = (
    "terminal_response",
    "platform_response",
    "heartbeat",
    "unregister",
    "register",
    "register_response",
    "authenticate",
    "location",
    "batch_location",
)


def message_kind(kind: str, is_2019: bool) -> st.SearchStrategy[object]:
    """Messages of one kind (a name from ``KINDS``) for one version."""
    general = {"serial": WORD, "msg_id": WORD, "result": BYTE}
    return {
        "terminal_response": lambda: st.builds(TerminalResponse, **general),
        "platform_response": lambda: st.builds(PlatformResponse, **general),
        "heartbeat": lambda: st.just(Heartbeat()),
        "unregister": lambda: st.just(Unregister()),
        "register": lambda: registers(is_2019),
        "register_response": register_responses,
        "authenticate": lambda: authentications(is_2019),
        "location": location_reports,
        "batch_location": batches,
    }[kind]()


def messages(is_2019: bool) -> st.SearchStrategy[object]:
    """Any message body this codec decodes, for one version."""
    return st.one_of([message_kind(kind, is_2019) for kind in KINDS])
