"""Frames: 0x7E + escape(header + body + XOR check byte) + 0x7E, the 2013 and 2019 headers, and a stream splitter.

Header (all integers big-endian)::

    2013  msg_id WORD | properties WORD | phone BCD[6]                   | serial WORD | [total WORD, index WORD]
    2019  msg_id WORD | properties WORD | version BYTE | phone BCD[10]   | serial WORD | [total WORD, index WORD]

    properties: bits 0-9 body length, 10-12 encryption, 13 sub-packaged (the two package words follow),
                14 version flag (set = 2019 header), 15 reserved (0 on encode, ignored on decode)

The check byte is the XOR of every header and body byte. Escaping (after the check byte is computed):
0x7E -> 0x7D 0x02 and 0x7D -> 0x7D 0x01.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from jt808.bcd import bcd_decode, bcd_encode
from jt808.errors import FrameError

FLAG = 0x7E
ESCAPE = 0x7D
MAX_BODY = 0x3FF  # the 10-bit length field
MIN_CONTENT = 12 + 1  # the shortest 2013 header and the check byte
# a bound on the longest legal frame: 2019 sub-package header, 1023-byte body, every byte escaped but the 10
# BCD phone bytes and the properties word (neither can be 0x7D / 0x7E with a 1023-byte length): 2080 bytes
MAX_FRAME_LEN = 2 + 2 * (21 + MAX_BODY + 1) - 12

_FLAG_B = b"\x7e"
_ESC_B = b"\x7d"
_ESC_FLAG = b"\x7d\x02"
_ESC_ESC = b"\x7d\x01"
_WORDS = struct.Struct(">HH")
_WORD = struct.Struct(">H")
_LENGTH_MASK = 0x03FF
_ENCRYPTION_SHIFT = 10
_SUBPACKAGE = 0x2000
_VERSION_FLAG = 0x4000


def escape(data: bytes) -> bytes:
    """Escape 0x7D as 0x7D 0x01 and 0x7E as 0x7D 0x02."""
    return data.replace(_ESC_B, _ESC_ESC).replace(_FLAG_B, _ESC_FLAG)


def unescape(data: bytes) -> bytes:
    """Undo ``escape``; FrameError("bad_escape") on a raw 0x7E or a 0x7D not followed by 0x01 / 0x02."""
    if _FLAG_B in data:
        raise FrameError("bad_escape", "raw 0x7E inside a frame")
    escapes = data.count(_ESC_B)
    if not escapes:
        return data
    if escapes != data.count(_ESC_ESC) + data.count(_ESC_FLAG):
        raise FrameError("bad_escape", "0x7D not followed by 0x01 or 0x02")
    return data.replace(_ESC_FLAG, _FLAG_B).replace(_ESC_ESC, _ESC_B)


def checksum(data: bytes) -> int:
    """XOR of all bytes."""
    value = int.from_bytes(data, "little")
    width = len(data)
    while width > 8:  # fold halves (whole bytes) until one 64-bit word is left
        half = (width + 1) // 2
        value = (value >> (8 * half)) ^ (value & ((1 << (8 * half)) - 1))
        width = half
    value ^= value >> 32
    value ^= value >> 16
    value ^= value >> 8
    return value & 0xFF


@dataclass(frozen=True, slots=True)
class Header:
    """A message header: ``version`` None is a 2013 header, an int a 2019 one; ``package`` is (total, index)."""

    msg_id: int
    phone: str
    serial: int
    version: int | None = None
    encryption: int = 0
    package: tuple[int, int] | None = None

    @property
    def is_2019(self) -> bool:
        """Whether this is a 2019 header (version byte, 10-byte BCD phone)."""
        return self.version is not None


def encode_header(header: Header, body_length: int) -> bytes:
    """Encode a header for a body of ``body_length`` bytes; ValueError on out-of-range fields."""
    if not 0 <= body_length <= MAX_BODY:
        raise ValueError(f"body of {body_length} bytes does not fit the 10-bit length field; use split()")
    if not 0 <= header.encryption <= 7:
        raise ValueError(f"encryption {header.encryption} does not fit 3 bits")
    props = body_length | header.encryption << _ENCRYPTION_SHIFT
    if header.package is not None:
        props |= _SUBPACKAGE
    try:
        if header.version is None:
            head = _WORDS.pack(header.msg_id, props) + bcd_encode(header.phone, 6)
        else:
            head = _WORDS.pack(header.msg_id, props | _VERSION_FLAG) + bytes((header.version,))
            head += bcd_encode(header.phone, 10)
        head += _WORD.pack(header.serial)
        if header.package is not None:
            head += _WORDS.pack(*header.package)
    except (struct.error, ValueError) as exc:  # bytes((256,)) raises ValueError, struct.pack struct.error
        raise ValueError(f"cannot encode {header}: {exc}") from None
    return head


def decode_header(data: bytes) -> tuple[Header, int]:
    """Decode the header at the start of ``data``; return it and its length in bytes."""
    if len(data) < 4:
        raise FrameError("too_short", f"{len(data)} bytes cannot hold a message id and properties")
    msg_id, props = _WORDS.unpack_from(data)
    phone_at, serial_at = (5, 15) if props & _VERSION_FLAG else (4, 10)
    length = serial_at + (6 if props & _SUBPACKAGE else 2)
    if len(data) < length:
        raise FrameError("too_short", f"header needs {length} bytes, got {len(data)}")
    version = data[4] if props & _VERSION_FLAG else None
    serial = _WORD.unpack_from(data, serial_at)[0]
    package = _WORDS.unpack_from(data, serial_at + 2) if props & _SUBPACKAGE else None
    phone = bcd_decode(data[phone_at:serial_at])
    return Header(msg_id, phone, serial, version, props >> _ENCRYPTION_SHIFT & 7, package), length


def pack(header: Header, body: bytes) -> bytes:
    """Build one complete frame, delimiters included; ValueError for a body over 1023 bytes (use ``split``)."""
    content = encode_header(header, len(body)) + body
    return _FLAG_B + escape(content + bytes((checksum(content),))) + _FLAG_B


def split(header: Header, body: bytes, size: int = MAX_BODY) -> list[bytes]:
    """Frames of a message in ``size``-byte sub-packages, serials counting up; one plain frame if it fits."""
    if not 1 <= size <= MAX_BODY:
        raise ValueError(f"sub-package size must be 1..{MAX_BODY}, got {size}")
    if len(body) <= size:
        return [pack(replace(header, package=None), body)]
    total = -(-len(body) // size)
    if total > 0xFFFF:
        raise ValueError(f"{total} sub-packages do not fit the 16-bit total")
    return [
        pack(replace(header, serial=(header.serial + i) & 0xFFFF, package=(total, i + 1)), body[at : at + size])
        for i, at in enumerate(range(0, len(body), size))
    ]


def unpack(frame: bytes) -> tuple[Header, bytes]:
    """Check and decode one frame (with or without its 0x7E delimiters) into its header and body."""
    if frame[:1] == _FLAG_B:
        frame = frame[1:]
    if frame[-1:] == _FLAG_B:
        frame = frame[:-1]
    content = unescape(frame)
    if len(content) < MIN_CONTENT:
        raise FrameError("too_short", f"{len(content)} bytes after unescaping, a frame needs at least {MIN_CONTENT}")
    if checksum(content) != 0:  # the XOR of everything, check byte included, is 0 when it matches
        raise FrameError("bad_checksum", f"check byte {content[-1]:#04x} != {checksum(content[:-1]):#04x}")
    header, length = decode_header(content[:-1])
    body = content[length:-1]
    declared = content[3] | (content[2] & 0x03) << 8
    if declared != len(body):
        raise FrameError("length_mismatch", f"length field says {declared} bytes, body has {len(body)}")
    return header, body


class FrameReader:
    """Split a TCP byte stream into frames (delimiters included), dropping and counting bytes outside frames.

    Each 0x7E either opens or closes a frame; ``7E 7E`` closes one frame and opens the next, and an empty
    frame ``7E 7E`` is not a frame: its second 0x7E opens the next one (this also resynchronises after a
    lost delimiter). A frame longer than ``max_frame`` bytes (delimiters included) is an error the caller
    answers by closing the connection: ``feed`` raises FrameError("too_long") -- but frames completed
    earlier in the same call are returned first and the error is raised by the next call. From then on
    ``overflowed`` is True and every ``feed`` raises; the buffered bytes are dropped at once.

    Note: the default 2048 is below ``MAX_FRAME_LEN`` (2080), the bound on a legal frame (a 1023-byte body
    made of nearly nothing but 0x7E / 0x7D); pass ``max_frame=MAX_FRAME_LEN`` to accept every legal frame.
    """

    __slots__ = ("_buf", "garbage_bytes", "max_frame", "overflowed")

    def __init__(self, max_frame: int = 2048) -> None:
        self.max_frame = max_frame
        self.garbage_bytes = 0
        self.overflowed = False
        self._buf = b""  # empty, or the frame in progress starting with its opening 0x7E

    @property
    def pending(self) -> int:
        """Bytes of the frame in progress held back until its closing 0x7E arrives."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Return the frames completed by ``data``, in order."""
        if self.overflowed:
            raise FrameError("too_long", f"a frame grew past {self.max_frame} bytes; the stream is unusable")
        buf = self._buf + data if self._buf else bytes(data)
        frames: list[bytes] = []
        limit = self.max_frame
        pos = 0
        if not self._buf:  # outside a frame: skip to the next 0x7E
            pos = buf.find(_FLAG_B)
            if pos < 0:
                self.garbage_bytes += len(buf)
                return frames
            self.garbage_bytes += pos
        while True:  # here buf[pos] is an opening 0x7E
            end = buf.find(_FLAG_B, pos + 1)
            if end < 0:
                if len(buf) - pos > limit:
                    return self._overflow(frames)
                self._buf = buf[pos:]
                return frames
            if end == pos + 1:  # empty frame: the second 0x7E opens the next one
                pos = end
                continue
            if end + 1 - pos > limit:
                return self._overflow(frames)
            frames.append(buf[pos : end + 1])
            pos = buf.find(_FLAG_B, end + 1)
            if pos < 0:
                self.garbage_bytes += len(buf) - end - 1
                self._buf = b""
                return frames
            self.garbage_bytes += pos - end - 1

    def _overflow(self, frames: list[bytes]) -> list[bytes]:
        """Drop the buffer and raise too_long now, or after handing over the frames already completed."""
        self.overflowed = True
        self._buf = b""
        if frames:
            return frames
        raise FrameError("too_long", f"a frame grew past {self.max_frame} bytes without its closing 0x7E")
