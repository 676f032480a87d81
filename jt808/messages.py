"""Message ids, the body dataclasses of the messages the gateway handles, and ``decode_body``.

Each body class has ``MSG_ID``, ``encode(is_2019) -> bytes`` and ``decode(body, is_2019)``; decode raises
FrameError("bad_body") on a body of the wrong size or shape, encode raises ValueError on fields that do
not fit. Texts are GBK (ASCII for the fixed fields in practice); the fixed-width fields are right-padded
with 0x00 on encode and stripped of 0x00 on both ends on decode (some terminals pad on the left), and the
to-the-end strings (plate, authentication code) are stripped of 0x00 too. GBK has U+00B7 '·' (0xA1A4), so
plates such as 鄂A·D3101 encode as they are; a character GBK lacks (e.g. U+30FB '・') is a ValueError.

Location messages live in ``jt808.location`` and are re-exported here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

from jt808.errors import FrameError
from jt808.frame import Header
from jt808.location import (
    ALARM_NAMES,
    BATCH_LOCATION,
    LOCATION,
    BatchLocation,
    LocationReport,
    alarm_names,
    mileage_dkm,
    satellites,
    signal_strength,
    tacho_speed_dkmh,
    tlv_uint,
    tlv_value,
)

__all__ = [
    "ALARM_CONFIRM",
    "ALARM_NAMES",
    "AUTHENTICATE",
    "BATCH_LOCATION",
    "FAIL",
    "HEARTBEAT",
    "LOCATION",
    "MESSAGE_ERROR",
    "NOT_SUPPORTED",
    "OK",
    "PLATFORM_RESPONSE",
    "REGISTER",
    "REGISTER_RESPONSE",
    "REG_NO_TERMINAL",
    "REG_NO_VEHICLE",
    "REG_OK",
    "REG_TERMINAL_TAKEN",
    "REG_VEHICLE_TAKEN",
    "TERMINAL_RESPONSE",
    "UNREGISTER",
    "Authenticate",
    "BatchLocation",
    "Heartbeat",
    "LocationReport",
    "PlatformResponse",
    "Register",
    "RegisterResponse",
    "TerminalResponse",
    "Unknown",
    "Unregister",
    "alarm_names",
    "decode_body",
    "mileage_dkm",
    "satellites",
    "signal_strength",
    "tacho_speed_dkmh",
    "tlv_uint",
    "tlv_value",
]

TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
UNREGISTER = 0x0003
REGISTER = 0x0100
AUTHENTICATE = 0x0102
PLATFORM_RESPONSE = 0x8001
REGISTER_RESPONSE = 0x8100

# general response (0x0001 / 0x8001) results
OK = 0
FAIL = 1
MESSAGE_ERROR = 2
NOT_SUPPORTED = 3
ALARM_CONFIRM = 4  # 0x8001 only: alarm handling confirmed

# registration response (0x8100) results
REG_OK = 0
REG_VEHICLE_TAKEN = 1
REG_NO_VEHICLE = 2
REG_TERMINAL_TAKEN = 3
REG_NO_TERMINAL = 4

_WORDS = struct.Struct(">HH")
_RESPONSE = struct.Struct(">HHB")
_REG_RESPONSE = struct.Struct(">HB")
_REGISTER_SIZES = {False: (5, 20, 7), True: (11, 30, 30)}  # maker, model, terminal id
_IMEI_SIZE = 15
_SOFTWARE_SIZE = 20


def _gbk(text: str, field: str) -> bytes:
    """Encode a text field as GBK; ValueError if it has a character GBK lacks."""
    try:
        return text.encode("gbk")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{field} {text!r} is not GBK-encodable ({exc.reason})") from None


def _fixed(text: str, size: int, field: str) -> bytes:
    """Encode a fixed-width field, right-padded with 0x00; ValueError if too long."""
    raw = _gbk(text, field)
    if len(raw) > size:
        raise ValueError(f"{field} {text!r} is {len(raw)} bytes, the field holds {size}")
    return raw.ljust(size, b"\0")


def _text(raw: bytes, field: str) -> str:
    """Decode a GBK field stripped of 0x00 padding; FrameError("bad_body") if it is not GBK."""
    try:
        return raw.strip(b"\0").decode("gbk")
    except UnicodeDecodeError:
        raise FrameError("bad_body", f"{field} {raw.hex()} is not GBK text") from None


def _pack(fmt: struct.Struct, *values: int) -> bytes:
    """struct-pack integers, turning struct.error into ValueError."""
    try:
        return fmt.pack(*values)
    except struct.error as exc:
        raise ValueError(f"cannot encode {values}: {exc}") from None


def _byte(value: int, field: str) -> bytes:
    """One unsigned byte; ValueError if out of range."""
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{field} {value} does not fit a byte")
    return bytes((value,))


@dataclass(frozen=True, slots=True)
class Register:
    """Terminal registration (0x0100); ``plate`` is the VIN when ``plate_color`` is 0."""

    MSG_ID: ClassVar[int] = REGISTER

    province: int
    city: int
    maker: str
    model: str
    terminal_id: str
    plate_color: int
    plate: str

    def encode(self, is_2019: bool) -> bytes:
        """Body bytes: maker / model / terminal id are 5 / 20 / 7 bytes in 2013, 11 / 30 / 30 in 2019."""
        maker, model, terminal_id = _REGISTER_SIZES[is_2019]
        return b"".join(
            (
                _pack(_WORDS, self.province, self.city),
                _fixed(self.maker, maker, "maker"),
                _fixed(self.model, model, "model"),
                _fixed(self.terminal_id, terminal_id, "terminal_id"),
                _byte(self.plate_color, "plate_color"),
                _gbk(self.plate, "plate"),
            )
        )

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> Register:
        """Decode a 0x0100 body."""
        maker, model, terminal_id = _REGISTER_SIZES[is_2019]
        fixed = 4 + maker + model + terminal_id
        if len(body) < fixed + 1:
            raise FrameError("bad_body", f"registration body needs at least {fixed + 1} bytes, got {len(body)}")
        province, city = _WORDS.unpack_from(body)
        return cls(
            province,
            city,
            _text(body[4 : 4 + maker], "maker"),
            _text(body[4 + maker : 4 + maker + model], "model"),
            _text(body[fixed - terminal_id : fixed], "terminal_id"),
            body[fixed],
            _text(body[fixed + 1 :], "plate"),
        )


@dataclass(frozen=True, slots=True)
class RegisterResponse:
    """Registration response (0x8100); the authentication code is sent only when ``result`` is REG_OK."""

    MSG_ID: ClassVar[int] = REGISTER_RESPONSE

    serial: int
    result: int
    auth_code: str = ""

    def encode(self, is_2019: bool) -> bytes:
        """Body bytes: answered serial, result, then the code (success only)."""
        if self.auth_code and self.result != REG_OK:
            raise ValueError(f"an authentication code goes with result {REG_OK} only, not {self.result}")
        return _pack(_REG_RESPONSE, self.serial, self.result) + _gbk(self.auth_code, "auth_code")

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> RegisterResponse:
        """Decode a 0x8100 body."""
        if len(body) < _REG_RESPONSE.size:
            raise FrameError("bad_body", f"registration response needs 3 bytes, got {len(body)}")
        serial, result = _REG_RESPONSE.unpack_from(body)
        if result != REG_OK and len(body) > _REG_RESPONSE.size:
            raise FrameError("bad_body", f"registration refused (result {result}) yet carries a code")
        return cls(serial, result, _text(body[_REG_RESPONSE.size :], "auth_code"))


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Terminal authentication (0x0102); ``imei`` and ``software_version`` exist in 2019 only."""

    MSG_ID: ClassVar[int] = AUTHENTICATE

    auth_code: str
    imei: str = ""
    software_version: str = ""

    def encode(self, is_2019: bool) -> bytes:
        """Body bytes: 2013 the code alone; 2019 code length, code, IMEI[15], software version[20]."""
        code = _gbk(self.auth_code, "auth_code")
        if not is_2019:
            if self.imei or self.software_version:
                raise ValueError("a 2013 authentication carries the code only (no IMEI, no software version)")
            return code
        return b"".join(
            (
                _byte(len(code), "auth_code length"),
                code,
                _fixed(self.imei, _IMEI_SIZE, "imei"),
                _fixed(self.software_version, _SOFTWARE_SIZE, "software_version"),
            )
        )

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> Authenticate:
        """Decode a 0x0102 body."""
        if not is_2019:
            return cls(_text(body, "auth_code"))
        if not body or len(body) != 1 + body[0] + _IMEI_SIZE + _SOFTWARE_SIZE:
            raise FrameError("bad_body", f"2019 authentication of {len(body)} bytes does not match its code length")
        imei_at = 1 + body[0]
        return cls(
            _text(body[1:imei_at], "auth_code"),
            _text(body[imei_at : imei_at + _IMEI_SIZE], "imei"),
            _text(body[imei_at + _IMEI_SIZE :], "software_version"),
        )


@dataclass(frozen=True, slots=True)
class _GeneralResponse:
    """The general response layout: answered serial WORD, answered message id WORD, result BYTE."""

    serial: int
    msg_id: int
    result: int

    def encode(self, is_2019: bool) -> bytes:
        """Body bytes."""
        return _pack(_RESPONSE, self.serial, self.msg_id, self.result)

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> Any:
        """Decode a 5-byte general response body."""
        if len(body) != _RESPONSE.size:
            raise FrameError("bad_body", f"general response needs 5 bytes, got {len(body)}")
        return cls(*_RESPONSE.unpack(body))


@dataclass(frozen=True, slots=True)
class PlatformResponse(_GeneralResponse):
    """Platform general response (0x8001): OK, FAIL, MESSAGE_ERROR, NOT_SUPPORTED or ALARM_CONFIRM."""

    MSG_ID: ClassVar[int] = PLATFORM_RESPONSE


@dataclass(frozen=True, slots=True)
class TerminalResponse(_GeneralResponse):
    """Terminal general response (0x0001): OK, FAIL, MESSAGE_ERROR or NOT_SUPPORTED."""

    MSG_ID: ClassVar[int] = TERMINAL_RESPONSE


@dataclass(frozen=True, slots=True)
class _Empty:
    """A message whose body is empty."""

    def encode(self, is_2019: bool) -> bytes:
        """The empty body."""
        return b""

    @classmethod
    def decode(cls, body: bytes, is_2019: bool) -> Any:
        """Accept only the empty body."""
        if body:
            raise FrameError("bad_body", f"{cls.__name__} body must be empty, got {len(body)} bytes")
        return cls()


@dataclass(frozen=True, slots=True)
class Heartbeat(_Empty):
    """Terminal heartbeat (0x0002)."""

    MSG_ID: ClassVar[int] = HEARTBEAT


@dataclass(frozen=True, slots=True)
class Unregister(_Empty):
    """Terminal unregistration (0x0003)."""

    MSG_ID: ClassVar[int] = UNREGISTER


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message this codec does not decode (or an encrypted body), kept as raw bytes."""

    msg_id: int
    body: bytes

    def encode(self, is_2019: bool) -> bytes:
        """The raw body."""
        return self.body


_DECODERS: dict[int, Any] = {
    cls.MSG_ID: cls
    for cls in (
        TerminalResponse,
        Heartbeat,
        Unregister,
        Register,
        Authenticate,
        LocationReport,
        BatchLocation,
        PlatformResponse,
        RegisterResponse,
    )
}


def decode_body(header: Header, body: bytes) -> object:
    """Decode a (whole, reassembled) body by its message id; unknown ids and encrypted bodies give ``Unknown``."""
    decoder = _DECODERS.get(header.msg_id)
    if decoder is None or header.encryption:
        return Unknown(header.msg_id, body)
    return decoder.decode(body, header.version is not None)
