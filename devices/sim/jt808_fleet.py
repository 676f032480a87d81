"""The simulated trucks as JT/T 808 terminals: the runner's ``Publisher``, speaking TCP to a gateway.

``Jt808Fleet`` wraps the simulator's MQTT publisher. A truck with a ``jt808_phone`` gets one TCP
connection (opened, registered and authenticated on its first report); its positions go out as
0x0200 location reports, one at a time, each waiting for the platform's 0x8001 (the gateway answers
only once the broker has the position), sent again with the same serial when no answer comes. Its
birth / last-will statuses are not published: the gateway announces the terminal online when it
authenticates and offline when it unregisters (0x0003, sent by ``close``). Everything else (cameras,
fixed sensors, trucks without a phone) goes to the wrapped publisher unchanged.

What the wire keeps of a ``VehiclePosition``: latitude / longitude in 1e-6 degrees, speed in 0.1 km/h
(the simulator's own resolutions), the load in status bits 8-9, cover / lift / weight in the vendor
items of the truck's terminal model (``terminals.yaml``); it quantises the heading to whole degrees and
the time to whole seconds (BCD ``YYMMDDhhmmss``): a report time is cut to its second here, as a
terminal's clock would read it.

A truck's number is written as in a 2019 header (version 1, 20 BCD digits) unless it has exactly
12 digits, the width of a 2013 header (the demo city's garbage trucks). No gateway code here: only the
``jt808`` codec and the city's data.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from devices.contracts import DeviceStatus, LoadState, VehiclePosition
from devices.inventory import City, Vehicle
from devices.sim.publisher import PublisherError
from devices.sim.runner import Publisher
from devices.terminals import TerminalModel
from jt808 import messages as m
from jt808.errors import FrameError
from jt808.frame import MAX_FRAME_LEN, FrameReader, Header, pack, unpack
from jt808.location import STATUS_ACC, STATUS_POSITIONED

LOAD_BITS = {LoadState.EMPTY: 0b00, LoadState.HALF: 0b01, LoadState.FULL: 0b11}
ALARM_BITS = {name: bit for bit, name in m.ALARM_NAMES.items()}
PHONE_DIGITS_2013 = 12
ALTITUDE_M = 25  # the demo district lies by the river; the rules do not read altitude
PROVINCE, CITY = 42, 100  # GB/T 2260 湖北省 / 武汉市 (420100), the demo district's administrative codes
PLATE_YELLOW = 2  # JT/T 808 plate colour: trucks carry yellow plates
SERIAL_SPAN = 65_536
WAIT_SLICE_S = 0.2  # reply waits wake this often to notice interrupt()


class Jt808Error(PublisherError):
    """The gateway refused a terminal, could not be reached, or stopped answering."""


class _Interrupted(Exception):
    """interrupt() was called while a request waited for its answer."""


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """Where the gateway listens and how patient the terminals are."""

    host: str = "127.0.0.1"
    port: int = 7611
    connect_timeout_s: float = 10.0
    reply_timeout_s: float = 5.0  # JT/T 808 T1: the first wait for an answer; the n-th wait is n x this
    retries: int = 3  # sends of a frame after the first, same serial, before giving up
    heartbeat_s: float = 60.0  # a terminal that sent nothing for this long sends 0x0002
    close_timeout_s: float = 3.0  # the wait for the answer to an unregistration at the end


@dataclass
class FleetStats:
    """What the terminals did: connections, reports acknowledged, what the wire changed, what went wrong."""

    terminals: int = 0  # connections authenticated
    registrations: int = 0
    positions: int = 0  # 0x0200 acknowledged with result 0
    time_truncated: int = 0  # reports whose time had milliseconds the BCD time cannot carry
    heading_rounded: int = 0  # reports whose heading was not a whole degree
    statuses_withheld: int = 0  # the simulator's statuses of JT/T 808 trucks (the gateway announces them)
    forwarded: int = 0  # handed to the MQTT publisher
    resends: int = 0
    heartbeats: int = 0
    reconnects: int = 0
    unregistered: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # "0x0200:2" = answered result 2

    def as_dict(self) -> dict[str, object]:
        """Return the counters as a JSON-ready dict."""
        return {
            "terminals": self.terminals,
            "registrations": self.registrations,
            "positions": self.positions,
            "time_truncated": self.time_truncated,
            "heading_rounded": self.heading_rounded,
            "statuses_withheld": self.statuses_withheld,
            "forwarded": self.forwarded,
            "resends": self.resends,
            "heartbeats": self.heartbeats,
            "reconnects": self.reconnects,
            "unregistered": self.unregistered,
            "refused": dict(self.refused),
        }


@dataclass(frozen=True, slots=True)
class TerminalSpec:
    """One truck's terminal: its number, header version, plate and model (vendor items)."""

    device_id: str
    phone: str
    v2019: bool
    plate: str
    model_name: str
    model: TerminalModel | None

    @classmethod
    def of(cls, vehicle: Vehicle, city: City) -> TerminalSpec:
        """Return the terminal of a vehicle that has a ``jt808_phone``."""
        assert vehicle.jt808_phone is not None
        phone = vehicle.jt808_phone
        model = city.terminal_model.get(vehicle.jt808_model or "")
        return cls(
            vehicle.terminal_id,
            phone,
            len(phone) != PHONE_DIGITS_2013,
            vehicle.plate,
            vehicle.jt808_model or "CW-SIM",
            model,
        )


def whole_second(ts_ms: int) -> int:
    """Return the time a JT/T 808 report carries: the second it falls in (BCD time has no milliseconds)."""
    return ts_ms - ts_ms % 1000


def vendor_items(pos: VehiclePosition, model: TerminalModel | None) -> tuple[tuple[int, bytes], ...]:
    """Return the additional-information items where the model reports cover, lift and weight."""
    if model is None:
        return ()
    bits: dict[int, tuple[int, int]] = {}  # tlv -> (value, width in bytes)
    for where, value in ((model.cover_closed, pos.cover_closed), (model.body_lifted, pos.body_lifted)):
        if where is None or value is None:
            continue
        word, width = bits.get(where.tlv, (0, 1))
        if int(value) == where.active:
            word |= 1 << where.bit
        bits[where.tlv] = (word, max(width, where.bit // 8 + 1))
    items = [(tlv, word.to_bytes(width, "big")) for tlv, (word, width) in bits.items()]
    if model.weight_kg is not None and pos.weight_kg is not None:
        count = round(pos.weight_kg / model.weight_kg.scale)
        items.append((model.weight_kg.tlv, count.to_bytes(2 if count <= 0xFFFF else 4, "big")))
    return tuple(items)


def location_report(pos: VehiclePosition, model: TerminalModel | None) -> m.LocationReport:
    """Return a contract position as the 0x0200 report a terminal of ``model`` sends."""
    alarm = sum(1 << ALARM_BITS[name] for name in set(pos.terminal_alarms or ()) if name in ALARM_BITS)
    status = STATUS_ACC | STATUS_POSITIONED | LOAD_BITS[LoadState(pos.load_state)] << 8
    return m.LocationReport(
        alarm=alarm, status=status, lat_e6=round(pos.lat * 1e6), lon_e6=round(pos.lon * 1e6),
        altitude_m=ALTITUDE_M, speed_dkmh=round(pos.speed_kmh * 10), direction=round(pos.heading_deg) % 360,
        ts_ms=whole_second(pos.ts_ms), extras=vendor_items(pos, model),
    )  # fmt: skip


class _Link:
    """One terminal's TCP connection, used by one thread at a time (``lock``)."""

    def __init__(self, spec: TerminalSpec, cfg: FleetConfig, stats: FleetStats, interrupted: threading.Event) -> None:
        self.spec, self.cfg, self.stats, self.interrupted = spec, cfg, stats, interrupted
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.frames = FrameReader(MAX_FRAME_LEN)
        self.serial = 0
        self.auth_code: str | None = None
        self.last_sent = time.monotonic()
        self.connections = 0

    # connection

    def ensure(self) -> None:
        """Connect and authenticate if not connected (registering when there is no code, or it is refused)."""
        if self.sock is not None:
            return
        self._open()
        if self.auth_code is None or not self._authenticate():
            if self.sock is None:  # the gateway closes the connection after a refused code
                self._open()
            self._register()
            if not self._authenticate():
                raise Jt808Error(f"{self.spec.device_id}: the gateway refused the code it issued")
        self.stats.terminals += 1

    def _open(self) -> None:
        try:
            self.sock = socket.create_connection((self.cfg.host, self.cfg.port), self.cfg.connect_timeout_s)
        except OSError as exc:
            raise Jt808Error(
                f"{self.spec.device_id}: no connection to the gateway at {self.cfg.host}:{self.cfg.port}: {exc}"
            ) from exc
        self.sock.settimeout(WAIT_SLICE_S)
        self.frames = FrameReader(MAX_FRAME_LEN)
        self.connections += 1
        self.stats.reconnects += self.connections > 1

    def _register(self) -> None:
        reg = m.Register(
            PROVINCE, CITY, "CWSIM", self.spec.model_name, self.spec.phone[-7:], PLATE_YELLOW, self.spec.plate
        )
        reply = self.request(reg)
        assert isinstance(reply, m.RegisterResponse)
        if reply.result != m.REG_OK:
            self.stats.refused[f"0x{m.REGISTER:04X}:{reply.result}"] += 1
            self.drop()
            raise Jt808Error(
                f"{self.spec.device_id}: registration of phone {self.spec.phone} refused (0x8100 result {reply.result})"
            )
        self.stats.registrations += 1
        self.auth_code = reply.auth_code

    def _authenticate(self) -> bool:
        """Show the code; False (and the connection dropped) when the gateway refuses it."""
        assert self.auth_code is not None
        extra = ("860000" + self.spec.phone[-9:].rjust(9, "0"), "CWSIM-1.0") if self.spec.v2019 else ("", "")
        reply = self.request(m.Authenticate(self.auth_code, *extra))
        if reply.result != m.OK:
            self.stats.refused[f"0x{m.AUTHENTICATE:04X}:{reply.result}"] += 1
            self.drop()
            return False
        return True

    def drop(self) -> None:
        """Close the socket without a word (the next use connects again)."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
        self.sock = None

    # requests

    def request(
        self, msg: object, interruptible: bool = True, retries: int | None = None, timeout_s: float | None = None
    ) -> m.PlatformResponse | m.RegisterResponse:
        """Send a message and return the platform's answer to it; the same frame again on each timeout."""
        assert self.sock is not None
        msg_id: int = msg.MSG_ID  # type: ignore[attr-defined]
        self.serial = (self.serial + 1) % SERIAL_SPAN
        header = Header(msg_id, self.spec.phone, self.serial, 1 if self.spec.v2019 else None)
        frame = pack(header, msg.encode(self.spec.v2019))  # type: ignore[attr-defined]
        tries = 1 + (self.cfg.retries if retries is None else retries)
        first_wait = self.cfg.reply_timeout_s if timeout_s is None else timeout_s
        for attempt in range(tries):
            if attempt:
                self.stats.resends += 1
            self.sock.sendall(frame)
            self.last_sent = time.monotonic()
            reply = self._answer(self.serial, msg_id, first_wait * (attempt + 1), interruptible)
            if reply is not None:
                return reply
        raise Jt808Error(
            f"{self.spec.device_id}: no answer to 0x{msg_id:04X} (serial {self.serial}) after {tries} sends"
        )

    def _answer(
        self, serial: int, msg_id: int, timeout_s: float, interruptible: bool
    ) -> m.PlatformResponse | m.RegisterResponse | None:
        """Read until the answer to (serial, msg_id) arrives; None on timeout (other frames are skipped)."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if interruptible and self.interrupted.is_set():
                raise _Interrupted
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionError("the gateway closed the connection")
            for raw in self.frames.feed(data):
                reply = _decode(raw)
                if isinstance(reply, m.RegisterResponse) and msg_id == m.REGISTER and reply.serial == serial:
                    return reply
                if isinstance(reply, m.PlatformResponse) and (reply.serial, reply.msg_id) == (serial, msg_id):
                    return reply
        return None


def _decode(raw: bytes) -> object:
    """Decode a platform frame; a frame the codec refuses is skipped (None)."""
    try:
        header, body = unpack(raw)
        return m.decode_body(header, body)
    except FrameError:
        return None


class Jt808Fleet:
    """A ``Publisher``: JT/T 808 trucks' positions to the gateway over TCP, every other message to MQTT."""

    def __init__(self, city: City, mqtt: Publisher, cfg: FleetConfig, stats: FleetStats | None = None) -> None:
        self.mqtt, self.cfg = mqtt, cfg
        self.stats = stats if stats is not None else FleetStats()  # shared: a demo adds up its rounds
        self._interrupted = threading.Event()
        self._closing = threading.Event()
        specs = [TerminalSpec.of(v, city) for v in city.vehicles if v.jt808_phone is not None]
        self._links = {s.device_id: _Link(s, cfg, self.stats, self._interrupted) for s in specs}
        self._telemetry = {VehiclePosition.topic_for(s.device_id): s.device_id for s in specs}
        self._status = {DeviceStatus.topic_for_kind("vehicle", s.device_id) for s in specs}
        self._heartbeat = threading.Thread(target=self._beat, name="jt808-heartbeat", daemon=True)

    @property
    def reconnects(self) -> int:
        """Reconnections of the MQTT publisher (the runner reports them)."""
        return int(getattr(self.mqtt, "reconnects", 0))

    def connect(self) -> None:
        """Connect the MQTT publisher; the terminals connect on their first report."""
        self.mqtt.connect()
        self._heartbeat.start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Send a JT/T 808 truck's position to the gateway and wait for the answer; the rest to MQTT."""
        device_id = self._telemetry.get(topic)
        if device_id is not None:
            return self._report(self._links[device_id], VehiclePosition.model_validate_json(payload))
        if topic in self._status:
            self.stats.statuses_withheld += 1
            return True
        sent = self.mqtt.publish(topic, payload, retain)
        self.stats.forwarded += sent
        return sent

    def _report(self, link: _Link, pos: VehiclePosition) -> bool:
        report = location_report(pos, link.spec.model)
        with link.lock:
            try:
                for attempt in (1, 2):  # a connection lost under a report: connect again, send it once more
                    try:
                        link.ensure()
                        reply = link.request(report)
                        break
                    except (ConnectionError, OSError):
                        link.drop()
                        if attempt == 2:
                            raise
            except _Interrupted:
                return False
            except (ConnectionError, OSError) as exc:
                raise Jt808Error(f"{link.spec.device_id}: lost the gateway: {exc}") from exc
        if reply.result != m.OK:
            self.stats.refused[f"0x{m.LOCATION:04X}:{reply.result}"] += 1  # dead-lettered by the gateway
        else:
            self.stats.positions += 1
        self.stats.time_truncated += pos.ts_ms % 1000 != 0
        self.stats.heading_rounded += pos.heading_deg != round(pos.heading_deg)
        return True

    def _beat(self) -> None:
        """Send a heartbeat (0x0002) for every terminal idle for ``heartbeat_s``, until closed."""
        while not self._closing.wait(min(1.0, self.cfg.heartbeat_s / 4)):
            for link in self._links.values():
                if link.sock is None or time.monotonic() - link.last_sent < self.cfg.heartbeat_s:
                    continue
                if not link.lock.acquire(blocking=False):
                    continue
                try:
                    if link.sock is not None:
                        link.request(m.Heartbeat(), interruptible=False, retries=1)
                        self.stats.heartbeats += 1
                except (_Interrupted, Jt808Error, ConnectionError, OSError):
                    link.drop()  # the next report connects again
                finally:
                    link.lock.release()

    def drain(self, timeout_s: float | None = None) -> int:
        """Wait for MQTT acknowledgements (every position was acknowledged before ``publish`` returned)."""
        return self.mqtt.drain(timeout_s)

    def interrupt(self) -> None:
        """Make a report waiting for its answer, or a publish waiting for room, return False now."""
        self._interrupted.set()
        self.mqtt.interrupt()

    def close(self) -> None:
        """Unregister every connected terminal (the gateway announces it offline), then close MQTT."""
        self._closing.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=self.cfg.reply_timeout_s * 2)
        try:
            for link in self._links.values():
                with link.lock:
                    self._unregister(link)
        finally:
            self.mqtt.close()

    def _unregister(self, link: _Link) -> None:
        if link.sock is None:
            return
        try:
            reply = link.request(m.Unregister(), interruptible=False, retries=0, timeout_s=self.cfg.close_timeout_s)
            if reply.result == m.OK:
                self.stats.unregistered += 1
        except (Jt808Error, ConnectionError, OSError):
            pass  # the gateway announces the terminal offline when the connection closes anyway
        finally:
            link.drop()
