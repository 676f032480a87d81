"""A lean MQTT 3.1.1 load generator for the benchmarks: QoS 1 PUBLISH packets encoded before the clock
starts, written to the socket in chunks, every PUBACK counted.

paho spends ~130 us of CPU per QoS 1 message in Python (measured by ``benchmarks.e2e``); on a
2-core machine that is CPU the pipeline under test does not get. This client does the work once,
up front (``encode``), so sending costs a socket write per chunk. It speaks the plain protocol:
CONNECT (clean session), PUBLISH QoS 1 with packet ids 1..65535 reused only once acknowledged
(at most ``window`` in flight), PUBACK, DISCONNECT. It is a benchmark tool, not a device: no
reconnects, no TLS, no login.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass

PUBLISH_QOS1 = 0x32
PUBACK = 0x40
CONNACK = 0x20
MAX_ID = 65535


def _length(n: int) -> bytes:
    """Return MQTT's variable-length encoding of a remaining length."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(s: bytes) -> bytes:
    return struct.pack("!H", len(s)) + s


def connect_packet(client_id: str, keepalive_s: int = 60) -> bytes:
    """Return a CONNECT packet: MQTT 3.1.1, clean session, no login."""
    body = _string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", keepalive_s) + _string(client_id.encode())
    return bytes([0x10]) + _length(len(body)) + body


def publish_packet(topic: str, payload: bytes, packet_id: int) -> bytes:
    """Return a QoS 1 PUBLISH packet."""
    body = _string(topic.encode()) + struct.pack("!H", packet_id) + payload
    return bytes([PUBLISH_QOS1]) + _length(len(body)) + body


def encode(messages: Sequence[tuple[str, bytes]]) -> list[bytes]:
    """Return the PUBLISH packets of the messages, packet ids 1, 2, ... wrapping at 65535."""
    return [publish_packet(topic, payload, i % MAX_ID + 1) for i, (topic, payload) in enumerate(messages)]


@dataclass
class Sent:
    """What one connection sent: packets, seconds, and when each packet left (monotonic)."""

    packets: int
    seconds: float
    sent_at: list[float]


async def send(
    host: str,
    port: int,
    client_id: str,
    packets: Sequence[bytes],
    rate: float | None,
    window: int = 20_000,
    chunk: int = 100,
    timeout_s: float = 300.0,
) -> Sent:
    """Send the packets at ``rate`` per second (None: as fast as the broker acknowledges); wait for every PUBACK."""
    if window >= MAX_ID:
        raise ValueError("window must stay below 65,535 (packet ids are reused)")
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(connect_packet(client_id))
    ack = await asyncio.wait_for(reader.readexactly(4), 10)
    if ack[0] != CONNACK or ack[3] != 0:
        raise ConnectionError(f"broker refused the connection: {ack!r}")
    acked, room = 0, asyncio.Condition()

    async def count_acks() -> None:
        try:
            await _read_acks()
        finally:
            async with room:
                room.notify_all()  # a sender waiting for room sees the end (or the error) at once

    async def _read_acks() -> None:
        nonlocal acked
        buffer = b""
        while acked < len(packets):
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            buffer += data
            whole = len(buffer) - len(buffer) % 4  # PUBACK is 4 bytes: 0x40 0x02 id id
            if any(buffer[i] != PUBACK for i in range(0, whole, 4)):
                raise ConnectionError("unexpected packet from the broker")
            acked += whole // 4
            buffer = buffer[whole:]
            async with room:
                room.notify_all()

    acks = asyncio.create_task(count_acks())
    began = time.monotonic()
    sent_at: list[float] = []
    for start in range(0, len(packets), chunk):
        if rate is not None:
            await asyncio.sleep(max(0.0, began + start / rate - time.monotonic()))
        async with room:
            await room.wait_for(lambda s=start: acks.done() or s - acked < window)
        if acks.done():
            acks.result()  # raises what stopped it
        part = packets[start : start + chunk]
        writer.write(b"".join(part))
        now = time.monotonic()
        sent_at += [now] * len(part)
        await writer.drain()
    await asyncio.wait_for(acks, timeout_s)
    seconds = time.monotonic() - began
    writer.write(b"\xe0\x00")  # DISCONNECT
    await writer.drain()
    writer.close()
    return Sent(len(packets), seconds, sent_at)
