"""Message bodies, byte for byte from the standard's layouts, both versions, and their bad_body cases."""

from __future__ import annotations

import pytest

from jt808.errors import FrameError
from jt808.frame import Header, pack, unpack
from jt808.messages import (
    AUTHENTICATE,
    HEARTBEAT,
    LOCATION,
    NOT_SUPPORTED,
    OK,
    REG_OK,
    REG_VEHICLE_TAKEN,
    Authenticate,
    Heartbeat,
    PlatformResponse,
    Register,
    RegisterResponse,
    TerminalResponse,
    Unknown,
    Unregister,
    decode_body,
)

PHONE = "013812345678"
PHONE_2019 = "00000000013812345678"


def frame(text: str) -> bytes:
    """Bytes from spaced hex."""
    return bytes.fromhex(text)


def check(raw: bytes, header: Header, message: object) -> None:
    """The frame decodes to header and message, and the pair encodes back to the same bytes."""
    got_header, body = unpack(raw)
    assert got_header == header
    assert decode_body(got_header, body) == message
    assert pack(header, message.encode(header.is_2019)) == raw  # type: ignore[attr-defined]


# --- hand-derived frames -----------------------------------------------------------------------------


def test_2019_authenticate() -> None:
    raw = frame(
        "7e"
        " 0102"  # msg id: terminal authentication
        " 402c"  # properties: bit 14 version flag, length 0x2C = 44 = 1 + 8 + 15 + 20
        " 01"  # protocol version 1
        " 00000000013812345678"  # phone BCD[10]
        " 0002"  # serial
        " 08"  # authentication code length
        " 4155544831323334"  # "AUTH1234"
        " 383631323334353637383930313233"  # IMEI BYTE[15] "861234567890123"
        " 56312e322e33 0000000000000000000000000000"  # software version BYTE[20] "V1.2.3", 0x00-padded
        " 00"  # check byte (XOR of everything above after 7e)
        " 7e"
    )
    check(raw, Header(AUTHENTICATE, PHONE_2019, 2, version=1), Authenticate("AUTH1234", "861234567890123", "V1.2.3"))


def test_platform_response() -> None:
    raw = frame(
        "7e 8001 0005 013812345678 0010"  # platform general response, 5-byte body, serial 0x10
        " 0007 0200 00"  # answers serial 7, message 0x0200, result 0 (OK)
        " a0 7e"
    )
    check(raw, Header(0x8001, PHONE, 0x10), PlatformResponse(7, LOCATION, OK))


def test_register_response_with_and_without_code() -> None:
    accepted = frame(
        "7e 8100 000b 013812345678 0011"  # registration response, 11-byte body
        " 0001 00 4155544831323334"  # answers serial 1, result 0 (success), code "AUTH1234"
        " a7 7e"
    )
    check(accepted, Header(0x8100, PHONE, 0x11), RegisterResponse(1, REG_OK, "AUTH1234"))
    refused = frame("7e 8100 0003 013812345678 0012 0001 03 a3 7e")  # result 3: terminal already registered
    check(refused, Header(0x8100, PHONE, 0x12), RegisterResponse(1, 3))


def test_2013_register_with_chinese_plate() -> None:
    raw = frame(
        "7e 0100 002f 013812345678 0001"  # registration, 47-byte body
        " 002a 0064"  # province 42 (Hubei), city 0100: the GB/T 2260 code 420100 (Wuhan)
        " 4357544348"  # maker BYTE[5] "CWTCH"
        " 43572d383038 0000000000000000000000000000"  # model BYTE[20] "CW-808", 0x00-padded
        " 54303030313233"  # terminal id BYTE[7] "T000123"
        " 02"  # plate colour: yellow
        " b6f5 41 a1a4 44 33313031"  # plate, GBK: 鄂 A · D 3101
        " 04 7e"
    )
    check(raw, Header(0x0100, PHONE, 1), Register(42, 100, "CWTCH", "CW-808", "T000123", 2, "鄂A·D3101"))


# --- frames published by other JT/T 808 implementations (interoperability) --------------------------------
# from the tests of github.com/cuteLittleDevil/go-jt808 (MIT): hex strings only, decoded here independently


def test_interop_2013_register_and_authenticate() -> None:
    check(
        frame(
            "7e0100002c0123456789010000001f007363640000007777772e3830382e636f6d000000000000000000"
            "3736353433323101b2e24131323334cc7e"
        ),
        Header(0x0100, "012345678901", 0),
        Register(31, 115, "cd", "www.808.com", "7654321", 1, "测A1234"),
    )
    check(
        frame("7e0102000b01234567890100003137323939383431373338b57e"),
        Header(AUTHENTICATE, "012345678901", 0),
        Authenticate("17299841738"),
    )


def test_interop_2019_register_and_authenticate() -> None:
    check(
        frame(
            "7e0100405301000000000172998417380000001f007363640000000000000000007777772e3830382e636f6d0000"
            "000000000000000000000000000000000037363534333231000000000000000000000000000000000000000000"
            "000001b2e241313233343b7e"
        ),
        Header(0x0100, "00000000017299841738", 0, version=1),
        Register(31, 115, "cd", "www.808.com", "7654321", 1, "测A1234"),
    )
    check(
        frame(
            "7e0102402f010000000001729984173800000b3137323939383431373338313233343536373839303132333435332e"
            "372e31350000000000000000000000000000227e"
        ),
        Header(AUTHENTICATE, "00000000017299841738", 0, version=1),
        Authenticate("17299841738", "123456789012345", "3.7.15"),
    )


def test_interop_general_responses_and_heartbeat() -> None:
    check(
        frame("7e000100050123456789017fff007b01c803bd7e"),
        Header(0x0001, "012345678901", 0x7FFF),
        TerminalResponse(123, 456, NOT_SUPPORTED),
    )
    check(
        frame("7e8001000501234567890100007fff0002008e7e"),
        Header(0x8001, "012345678901", 0),
        PlatformResponse(0x7FFF, HEARTBEAT, OK),
    )
    check(frame("7e0002000001234567890100008a7e"), Header(HEARTBEAT, "012345678901", 0), Heartbeat())


def test_left_padded_terminal_id_is_stripped() -> None:
    # a terminal that pads its id on the left with 0x00 (seen in the wild)
    raw = frame(
        "7e0100002d0138777788880066000200024d414b4532202050524f424f4f4b207a68616e36362d616d3200000000004132"
        "02b4a8413737373737327e"
    )
    header, body = unpack(raw)
    assert decode_body(header, body) == Register(2, 2, "MAKE2", "  PROBOOK zhan66-am2", "A2", 2, "川A77777")


# --- dispatch -----------------------------------------------------------------------------------------


def test_decode_body_unknown_and_encrypted() -> None:
    assert decode_body(Header(0x0900, PHONE, 0), b"\x01abc") == Unknown(0x0900, b"\x01abc")
    location = Header(LOCATION, PHONE, 0, encryption=1)
    assert decode_body(location, b"rsa") == Unknown(LOCATION, b"rsa")
    assert Unknown(0x0900, b"x").encode(False) == b"x"


def test_empty_bodies() -> None:
    assert decode_body(Header(0x0002, PHONE, 0), b"") == Heartbeat()
    assert decode_body(Header(0x0003, PHONE, 0), b"") == Unregister()
    assert Heartbeat() != Unregister()
    assert Heartbeat().encode(True) == b""


# --- bad bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_id", "body", "is_2019"),
    [
        (0x0001, "0001 0200", False),  # general response: 4 bytes
        (0x8001, "0001 0200 00 00", True),  # 6 bytes
        (0x0002, "00", False),  # heartbeat with a body
        (0x0003, "00", True),
        (0x0100, "002a 0064" + "00" * 32, False),  # 2013 registration without its plate-colour byte
        (0x0100, "002a 0064" + "00" * 71, True),  # 2019 registration: 75 bytes, 76 needed
        (0x0100, "002a 0064" + "00" * 33 + "ff", False),  # plate is not GBK (lone lead byte)
        (0x0100, "002a 0064 ff" + "00" * 32, False),  # maker is not GBK
        (0x8100, "0001", False),  # too short
        (0x8100, "0001 02 41", False),  # refused yet carries a code
        (0x0102, "", True),  # 2019: no length byte
        (0x0102, "08 41" + "00" * 35, True),  # code length 8, 1 byte present
        (0x0102, "00" + "00" * 36, True),  # one byte too many
        (0x0102, "ff", False),  # 2013: code not GBK
    ],
)
def test_bad_bodies(msg_id: int, body: str, is_2019: bool) -> None:
    header = Header(msg_id, PHONE_2019 if is_2019 else PHONE, 0, version=1 if is_2019 else None)
    with pytest.raises(FrameError) as err:
        decode_body(header, bytes.fromhex(body))
    assert err.value.reason == "bad_body"


# --- encode refuses what does not fit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "is_2019"),
    [
        (Register(42, 100, "TOOLONG", "m", "t", 1, "p"), False),  # maker over 5 bytes
        (Register(42, 100, "m", "m", "T0001234", 1, "p"), False),  # terminal id over 7 bytes
        (Register(42, 100, "m", "m", "t", 256, "p"), False),
        (Register(0x10000, 100, "m", "m", "t", 1, "p"), True),
        (Register(42, 100, "m", "m", "t", 1, "鄂A・D3101"), False),  # U+30FB is not in GBK
        (RegisterResponse(1, REG_VEHICLE_TAKEN, "code"), False),
        (Authenticate("code", imei="861234567890123"), False),  # 2013 has no IMEI
        (Authenticate("x" * 256), True),  # code length over a byte
        (Authenticate("code", imei="8612345678901234"), True),  # IMEI over 15 bytes
        (PlatformResponse(0x10000, 2, 0), False),
        (TerminalResponse(1, 2, 256), False),
    ],
)
def test_encode_rejects(message: object, is_2019: bool) -> None:
    with pytest.raises(ValueError):
        message.encode(is_2019)  # type: ignore[attr-defined]


def test_gbk_middle_dot_and_msg_ids() -> None:
    assert "·".encode("gbk") == bytes.fromhex("a1a4")
    assert Register.MSG_ID == 0x0100 and RegisterResponse.MSG_ID == 0x8100 and Authenticate.MSG_ID == 0x0102
    assert PlatformResponse.MSG_ID == 0x8001 and TerminalResponse.MSG_ID == 0x0001
