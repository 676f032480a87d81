"""One terminal connection as a pure state machine: a frame in, replies and contract messages out.

    connected --0x0100 register--> (0x8100: auth code, or 4 "no such terminal" and close)
    connected --0x0102 authenticate, code good--> authenticated (DeviceStatus online; 0x8001 after the broker has it)
    authenticated --0x0200 / 0x0704--> VehiclePosition(s); 0x8001 once the broker acknowledged them
    authenticated --0x0002 heartbeat--> 0x8001;  --0x0003 unregister--> DeviceStatus offline, close

Replies go out at once; the ``ack`` of a frame that carried data goes out only after the broker
acknowledged its messages (the server's job), so a terminal that hears nothing sends again, or keeps
the data for a blind-area upload: nothing is lost between the terminal and MQTT. A frame the codec
refuses, a position out of range, or data before authentication is answered as the standard says
(0x8001 result 2, or 1), counted by reason and dead-lettered with its raw bytes; the connection is
closed where going on makes no sense (unknown terminal, failed authentication, data before it, a
run of bad frames). Time comes in as ``now_ms``; nothing here reads a clock or touches a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import ValidationError

from devices.contracts import DeviceStatus, Message
from devices.terminals import TerminalModel, phone_key
from gateway.auth import Authenticator
from gateway.mapping import position
from gateway.serials import SPAN, STATUS_ITEM, SerialClock
from jt808 import messages as m
from jt808.errors import FrameError
from jt808.frame import Header, decode_header, pack, unescape, unpack
from jt808.subpackage import Reassembler

MAX_BAD_FRAMES = 20  # in a row: past this the peer is not a terminal worth answering
DATA_IDS = {m.LOCATION, m.BATCH_LOCATION}


@dataclass(frozen=True, slots=True)
class Terminal:
    """A known terminal: the device id it publishes as, and its model (vendor signals)."""

    device_id: str
    plate: str
    model: TerminalModel | None


class Directory(Protocol):
    """Which terminal is which truck (the city's vehicles.yaml)."""

    def lookup(self, phone_key: str) -> Terminal | None:
        """Return the terminal with this phone number (no padding zeros), None if unknown."""

    def __len__(self) -> int:
        """Return how many terminals it knows."""


@dataclass(frozen=True, slots=True)
class Reject:
    """Something refused: counted under ``reason``; ``raw`` (the frame) is dead-lettered when it carried data."""

    reason: str
    detail: str
    raw: bytes | None = None


@dataclass(slots=True)
class Outcome:
    """What the server must do for one frame."""

    replies: list[bytes] = field(default_factory=list)  # frames to send now
    messages: list[Message] = field(default_factory=list)  # to publish (QoS 1), in order
    ack: bytes | None = None  # the frame to send once the broker acknowledged ``messages``
    rejects: list[Reject] = field(default_factory=list)
    counts: list[str] = field(default_factory=list)  # frames handled, by message name
    close: bool = False


class Session:
    """The protocol state of one TCP connection."""

    def __init__(self, directory: Directory, auth: Authenticator) -> None:
        self.directory = directory
        self.auth = auth
        self.key: str | None = None  # the phone number (no padding zeros) once authenticated
        self.phone = ""  # as the terminal writes it in its headers
        self.version: int | None = None  # None: a 2013 terminal
        self.terminal: Terminal | None = None
        self.clock: SerialClock | None = None
        self.bad_frames = 0
        self._out_serial = 0
        self._parts = Reassembler()

    @property
    def authenticated(self) -> bool:
        """Tell whether the terminal has authenticated on this connection."""
        return self.terminal is not None

    def on_frame(self, frame: bytes, now_ms: int) -> Outcome:
        """Handle one frame (with its 0x7E delimiters) received at ``now_ms``."""
        out = Outcome()
        try:
            header, body = unpack(frame)
        except FrameError as exc:
            return self._bad_frame(frame, exc, out)
        if header.package is not None:
            try:
                whole = self._parts.add(header, body)
            except FrameError as exc:
                return self._bad_frame(frame, exc, out)
            if whole is None:
                return out
            body, first = whole, (header.serial - header.package[1] + 1) % SPAN
            header = Header(header.msg_id, header.phone, first, header.version, header.encryption, None)
        self.bad_frames = 0
        return self._dispatch(header, body, frame, now_ms, out)

    def on_close(self, now_ms: int, reason: str) -> list[Message]:
        """Return what to publish when the connection ends: the terminal is offline (if it had authenticated)."""
        if self.terminal is None or self.clock is None:
            return []
        return [self._status("offline", reason, now_ms)]

    def _dispatch(self, header: Header, body: bytes, frame: bytes, now_ms: int, out: Outcome) -> Outcome:
        msg_id = header.msg_id
        if header.encryption:
            return self._refuse(header, out, m.MESSAGE_ERROR, Reject("encrypted", f"encryption {header.encryption}"))
        try:
            msg = m.decode_body(header, body)
        except FrameError as exc:
            out.rejects.append(Reject(exc.reason, str(exc), frame))
            return self._respond(header, out, m.MESSAGE_ERROR)
        out.counts.append(type(msg).__name__)
        if isinstance(msg, m.Register):
            return self._register(header, msg, out)
        if isinstance(msg, m.Authenticate):
            return self._authenticate(header, msg, now_ms, out)
        if self.terminal is None:
            reject = Reject(
                "unauthenticated", f"0x{msg_id:04X} before authentication", frame if msg_id in DATA_IDS else None
            )
            out.close = True
            return self._refuse(header, out, m.FAIL, reject)
        return self._authenticated(header, msg, frame, now_ms, out)

    def _authenticated(self, header: Header, msg: object, frame: bytes, now_ms: int, out: Outcome) -> Outcome:
        if isinstance(msg, m.LocationReport):
            return self._positions(header, [msg], frame, out)
        if isinstance(msg, m.BatchLocation):
            return self._positions(header, list(msg.reports), frame, out)
        if isinstance(msg, m.TerminalResponse):
            return out
        if header.msg_id == m.HEARTBEAT:
            return self._respond(header, out, m.OK)
        if header.msg_id == m.UNREGISTER:
            out.messages.append(self._status("offline", "unregistered (0x0003)", now_ms))
            out.ack, out.close = self._reply_frame(header, m.OK), True
            self.terminal = None
            return out
        out.rejects.append(Reject("not_supported", f"message id 0x{header.msg_id:04X}"))
        return self._respond(header, out, m.NOT_SUPPORTED)

    def _register(self, header: Header, msg: m.Register, out: Outcome) -> Outcome:
        key = phone_key(header.phone)
        self._adopt(header)
        if self.directory.lookup(key) is None:
            out.rejects.append(
                Reject("unknown_terminal", f"phone {header.phone} (plate {msg.plate!r}) is in no vehicle's jt808_phone")
            )
            out.replies.append(self._frame(m.REGISTER_RESPONSE, m.RegisterResponse(header.serial, m.REG_NO_TERMINAL)))
            out.close = True
            return out
        reply = m.RegisterResponse(header.serial, m.REG_OK, self.auth.code(key))
        out.replies.append(self._frame(m.REGISTER_RESPONSE, reply))
        return out

    def _authenticate(self, header: Header, msg: m.Authenticate, now_ms: int, out: Outcome) -> Outcome:
        key = phone_key(header.phone)
        self._adopt(header)
        terminal = self.directory.lookup(key)
        if terminal is None or not self.auth.verify(key, msg.auth_code):
            reason = "unknown_terminal" if terminal is None else "auth_failed"
            out.close = True
            return self._refuse(header, out, m.FAIL, Reject(reason, f"phone {header.phone}"))
        first = self.clock is None
        self.key, self.terminal = key, terminal
        self.clock = self.clock or SerialClock(now_ms // 1000)
        self.clock.seq(header.serial)
        if first:
            out.messages.append(self._status("online", "JT/T 808 terminal authenticated", now_ms))
        out.ack = self._reply_frame(header, m.OK)
        return out

    def _positions(self, header: Header, reports: list[m.LocationReport], frame: bytes, out: Outcome) -> Outcome:
        assert self.terminal is not None and self.clock is not None
        terminal, clock = self.terminal, self.clock
        for i, report in enumerate(reports):  # a reassembled batch spans the serials of its packages
            serial, item = (header.serial + i // STATUS_ITEM) % SPAN, i % STATUS_ITEM
            try:
                out.messages.append(position(report, terminal.device_id, clock.seq(serial, item), terminal.model))
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:500]
                out.rejects.append(Reject("invalid_position", f"report {i}: {detail}", frame))
        if not out.messages:
            return self._respond(header, out, m.MESSAGE_ERROR)
        out.ack = self._reply_frame(header, m.OK)  # the bad ones are dead-lettered: a resend would not mend them
        return out

    def _bad_frame(self, frame: bytes, exc: FrameError, out: Outcome) -> Outcome:
        """Answer 0x8001 result 2 if the header can still be read, dead-letter the frame, close after a run."""
        self.bad_frames += 1
        out.rejects.append(Reject(exc.reason, str(exc), frame))
        out.close = self.bad_frames > MAX_BAD_FRAMES or exc.reason == "too_long"
        try:
            header, _ = decode_header(unescape(frame.strip(b"\x7e")))
        except (FrameError, ValueError):
            return out
        if not self.phone:
            self._adopt(header)
        return self._respond(header, out, m.MESSAGE_ERROR)

    def _refuse(self, header: Header, out: Outcome, result: int, reject: Reject) -> Outcome:
        out.rejects.append(reject)
        return self._respond(header, out, result)

    def _respond(self, header: Header, out: Outcome, result: int) -> Outcome:
        out.replies.append(self._reply_frame(header, result))
        return out

    def _reply_frame(self, header: Header, result: int) -> bytes:
        return self._frame(m.PLATFORM_RESPONSE, m.PlatformResponse(header.serial, header.msg_id, result))

    def _frame(self, msg_id: int, body: m.PlatformResponse | m.RegisterResponse) -> bytes:
        """Pack a platform message to this terminal, in its protocol version, with the next platform serial."""
        self._out_serial = (self._out_serial + 1) % SPAN
        header = Header(msg_id, self.phone or "0", self._out_serial, self.version)
        return pack(header, body.encode(self.version is not None))

    def _adopt(self, header: Header) -> None:
        """Answer in the terminal's own version and phone field."""
        self.phone, self.version = header.phone, header.version

    def _status(self, state: Literal["online", "offline"], reason: str, now_ms: int) -> DeviceStatus:
        assert self.terminal is not None and self.clock is not None
        return DeviceStatus(
            device_id=self.terminal.device_id, ts_ms=now_ms, seq=self.clock.status_seq(), state=state, reason=reason
        )
