"""A JT/T 808 terminal written for the tests, from the standard, independent of the ``jt808`` codec.

It encodes what a terminal sends (register, authenticate, heartbeat, location, blind-area batch,
unregister) and reads what the platform answers (0x8001, 0x8100), over a plain asyncio TCP
connection, so the gateway is checked against a second reading of the standard, not its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from devices.contracts import LoadState, VehiclePosition

BEIJING = timedelta(hours=8)
LOAD = {LoadState.EMPTY: 0b00, LoadState.HALF: 0b01, LoadState.FULL: 0b11}


def bcd(digits: str, size: int) -> bytes:
    """Pack decimal digits into ``size`` BCD bytes, left-padded with zeros."""
    digits = digits.rjust(size * 2, "0")
    return bytes(int(digits[i]) << 4 | int(digits[i + 1]) for i in range(0, len(digits), 2))


def bcd_time(ts_ms: int) -> bytes:
    """Return YYMMDDhhmmss in Beijing time as 6 BCD bytes."""
    return bcd((datetime.fromtimestamp(ts_ms / 1000, UTC) + BEIJING).strftime("%y%m%d%H%M%S"), 6)


def frame(msg_id: int, phone: str, serial: int, body: bytes, v2019: bool) -> bytes:
    """Return a whole frame: header, body, XOR check code, escaped, between 0x7E flags."""
    props = len(body) | (1 << 14 if v2019 else 0)
    head = struct.pack(">HH", msg_id, props) + (b"\x01" + bcd(phone, 10) if v2019 else bcd(phone, 6))
    content = head + struct.pack(">H", serial) + body
    check = 0
    for b in content:
        check ^= b
    content += bytes([check])
    return b"\x7e" + content.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02") + b"\x7e"


def register_body(plate: str, v2019: bool) -> bytes:
    """0x0100: province, city, maker, model, terminal id, plate colour, plate (GBK)."""
    sizes = (11, 30, 30) if v2019 else (5, 20, 7)
    fields = [s.encode().ljust(n, b"\x00") for s, n in zip(("CWTST", "CW-T1", "T0000001"), sizes, strict=True)]
    return struct.pack(">HH", 42, 100) + b"".join(fields) + b"\x02" + plate.encode("gbk", "replace")


def auth_body(code: str, v2019: bool) -> bytes:
    """0x0102: the code (2013: to the end; 2019: length, code, IMEI 15, software version 20)."""
    if not v2019:
        return code.encode()
    return bytes([len(code)]) + code.encode() + b"860000000000001" + b"1.0.0".ljust(20, b"\x00")


def location_body(p: VehiclePosition, alarm: int = 0, vendor: bool = True) -> bytes:
    """0x0200 from a contract position (the cover / lift bits in item 0xE1 as the demo's ZT-M2019 has them)."""
    status = 0b11 | LOAD[LoadState(p.load_state)] << 8  # ACC on, positioned
    lat, lon = round(abs(p.lat) * 1e6), round(abs(p.lon) * 1e6)
    status |= (4 if p.lat < 0 else 0) | (8 if p.lon < 0 else 0)
    body = struct.pack(">IIIIHHH", alarm, status, lat, lon, 30, round(p.speed_kmh * 10), round(p.heading_deg) % 360)
    body += bcd_time(p.ts_ms) + b"\x01\x04" + struct.pack(">I", 12345) + b"\x31\x01\x0c"
    if vendor and p.cover_closed is not None:
        bits = (1 if p.cover_closed else 0) | (2 if p.body_lifted else 0)
        body += b"\xe1\x01" + bytes([bits])
    return body


def batch_body(positions: list[VehiclePosition], blind: bool = True) -> bytes:
    """0x0704: count, type (1 = blind area), then each report with its length."""
    items = [location_body(p) for p in positions]
    return struct.pack(">HB", len(items), 1 if blind else 0) + b"".join(struct.pack(">H", len(i)) + i for i in items)


@dataclass(frozen=True)
class Reply:
    """A platform frame, read back: message id, the serial and id it answers, result, rest of the body."""

    msg_id: int
    answers_serial: int
    answers_id: int | None
    result: int
    rest: bytes


def parse_reply(raw: bytes) -> Reply:
    """Read a platform frame (0x8001 or 0x8100), checking the check code."""
    content = raw.strip(b"\x7e").replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
    check = 0
    for b in content[:-1]:
        check ^= b
    assert check == content[-1], f"bad check code in {raw.hex()}"
    msg_id, props = struct.unpack(">HH", content[:4])
    head = 4 + (11 if props >> 14 & 1 else 6) + 2
    body = content[head:-1]
    assert len(body) == props & 0x3FF, "body length field"
    if msg_id == 0x8001:
        serial, answers, result = struct.unpack(">HHB", body[:5])
        return Reply(msg_id, serial, answers, result, body[5:])
    serial, result = struct.unpack(">HB", body[:3])
    return Reply(msg_id, serial, None, result, body[3:])


class Terminal:
    """One terminal on one TCP connection."""

    def __init__(self, phone: str, v2019: bool) -> None:
        self.phone, self.v2019, self.serial = phone, v2019, 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self, port: int) -> None:
        """Open the TCP connection to the gateway on loopback."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)

    async def send(self, msg_id: int, body: bytes) -> int:
        """Send one message; return its serial."""
        self.serial = (self.serial + 1) % 65536
        await self.raw(frame(msg_id, self.phone, self.serial, body, self.v2019))
        return self.serial

    async def raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, timeout: float = 10.0) -> Reply:
        """Read the next platform frame."""
        assert self.reader is not None
        await asyncio.wait_for(self.reader.readuntil(b"\x7e"), timeout)  # the opening flag
        return parse_reply(b"\x7e" + await asyncio.wait_for(self.reader.readuntil(b"\x7e"), timeout))

    async def request(self, msg_id: int, body: bytes) -> Reply:
        """Send a message and read the answer to it."""
        serial = await self.send(msg_id, body)
        answer = await self.reply()
        assert answer.answers_serial == serial, f"answer to serial {answer.answers_serial}, sent {serial}"
        return answer

    async def login(self, plate: str) -> str:
        """Register and authenticate; return the auth code."""
        registered = await self.request(0x0100, register_body(plate, self.v2019))
        assert (registered.msg_id, registered.result) == (0x8100, 0), registered
        code = registered.rest.decode()
        authed = await self.request(0x0102, auth_body(code, self.v2019))
        assert (authed.answers_id, authed.result) == (0x0102, 0), authed
        return code

    async def closed(self, timeout: float = 10.0) -> bool:
        """Tell whether the gateway closed the connection (reads what is left)."""
        assert self.reader is not None
        try:
            while await asyncio.wait_for(self.reader.read(4096), timeout):
                pass
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Close the connection."""
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
