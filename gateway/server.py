"""The gateway's TCP edge: accept terminals, feed their frames to a ``Session``, publish, answer.

Each connection is one asyncio task reading into a ``FrameReader``; frames of one terminal are
handled in order (a position is answered only once the broker has it), terminals run side by
side. A connection must authenticate within ``auth_timeout_s`` of connecting, whatever it sends
(a client that sends nothing, or a byte a minute, is closed), and after that deliver a whole frame
at least every ``idle_timeout_s`` (terminals send a heartbeat every 30-60 s). A second connection
that authenticates with the same phone number takes over: the older one is closed without an
"offline" status. Nothing one connection does can stop another: every error of a connection ends
in that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from gateway.auth import Authenticator
from gateway.deadletters import DeadLetterLog
from gateway.publisher import Publisher
from gateway.session import Directory, Outcome, Session
from jt808.errors import FrameError
from jt808.frame import MAX_FRAME_LEN, FrameReader

log = structlog.get_logger("gateway")
SWEEP_S = 1.0  # how often deadlines are checked: a timeout fires up to this much late


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """Listening address and the limits of a connection."""

    host: str = "0.0.0.0"  # noqa: S104  # terminals connect from the mobile network
    port: int = 7611
    auth_timeout_s: float = 30.0
    idle_timeout_s: float = 180.0
    publish_timeout_s: float = 10.0
    max_frame: int = MAX_FRAME_LEN  # the longest legal frame (every byte of a 1023-byte body escaped)
    max_connections: int = 20_000
    read_size: int = 4096


@dataclass
class GatewayStats:
    """Counters: connections, frames by message, refusals by reason."""

    connections: int = 0
    accepted: int = 0
    published: int = 0
    frames: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        """Return the counters as a JSON-ready dict."""
        return {
            "connections": self.connections,
            "accepted": self.accepted,
            "published": self.published,
            "frames": dict(self.frames),
            "refused": dict(self.refused),
        }


def now_ms() -> int:
    """Return the wall clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


class _Connection:
    """One terminal's socket and session."""

    def __init__(
        self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, deadline: float
    ) -> None:
        self.session, self.reader, self.writer = session, reader, writer
        self.replaced = False
        self.deadline = deadline  # monotonic: the sweeper closes the connection past it
        self.timed_out: str | None = None
        self.task = asyncio.current_task()  # the one serving it, which stop() waits for
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)


class Gateway:
    """Serves JT/T 808 terminals and publishes what they report."""

    def __init__(
        self,
        directory: Directory,
        auth: Authenticator,
        publisher: Publisher,
        deadletters: DeadLetterLog,
        config: GatewayConfig,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.directory, self.auth, self.publisher = directory, auth, publisher
        self.deadletters, self.config = deadletters, config
        self.clock = clock  # stamps what the gateway says itself (online / offline); a replay passes its own
        self.stats = GatewayStats()
        self.active: dict[str, _Connection] = {}  # authenticated, by phone number
        self.open: set[_Connection] = set()  # every connection
        self.server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening (port 0: any free port, see ``port``)."""
        self.server = await asyncio.start_server(
            self._serve, self.config.host, self.config.port, limit=self.config.read_size * 4, backlog=1024
        )
        self._sweeper = asyncio.create_task(self._sweep(), name="gateway-sweeper")
        log.info("gateway.listening", host=self.config.host, port=self.port, terminals=len(self.directory))

    @property
    def port(self) -> int:
        """Return the port it listens on."""
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop accepting and close every connection (each publishes its terminal offline)."""
        if self.server is None:
            return
        self.server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        serving = [conn.task for conn in self.open if conn.task is not None]
        for conn in list(self.open):
            conn.writer.close()
        await self.server.wait_closed()
        if serving:  # each connection publishes its terminal offline as it ends
            await asyncio.wait(serving, timeout=self.config.publish_timeout_s + 1.0)

    async def _sweep(self) -> None:
        """Close every connection past its deadline, once a second (one timer for all, not one per read)."""
        while True:
            await asyncio.sleep(SWEEP_S)
            now = time.monotonic()
            for conn in [c for c in self.open if c.deadline < now and c.timed_out is None]:
                conn.timed_out = "timeout_idle" if conn.session.authenticated else "timeout_auth"
                self.stats.refused[conn.timed_out] += 1
                conn.writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        deadline = time.monotonic() + self.config.auth_timeout_s
        conn = _Connection(Session(self.directory, self.auth), reader, writer, deadline)
        if self.stats.connections >= self.config.max_connections:
            self.stats.refused["too_many_connections"] += 1
            writer.close()
            return
        self.stats.connections += 1
        self.stats.accepted += 1
        self.open.add(conn)
        reason = "connection closed"
        try:
            reason = await self._run(conn)
        except (ConnectionError, OSError) as exc:
            reason = f"connection lost: {type(exc).__name__}"
        except Exception as exc:
            reason = f"gateway error: {type(exc).__name__}"
            log.exception("gateway.connection_failed", peer=conn.peer, phone=conn.session.phone)
        finally:
            self.stats.connections -= 1
            conn.timed_out = conn.timed_out or "closing"  # the sweeper has nothing more to do with it
            try:
                await self._closed(conn, reason)
            finally:
                self.open.discard(conn)  # only now: stop() waits for every connection still saying offline

    async def _run(self, conn: _Connection) -> str:
        """Read and handle frames until the connection ends; return why it ended."""
        frames = FrameReader(self.config.max_frame)
        while True:
            data = await conn.reader.read(self.config.read_size)
            if conn.timed_out is not None:
                return "no frame in time"
            if not data:
                return "closed by the terminal"
            try:
                found = frames.feed(data)
            except FrameError as exc:
                self._refuse_stream(conn, exc, data)
                return f"stream refused: {exc.reason}"
            for frame in found:
                if conn.session.authenticated:  # until then the deadline is the one set at connecting
                    conn.deadline = time.monotonic() + self.config.idle_timeout_s
                if not await self._frame(conn, frame):
                    return "closed by the gateway"
                if conn.replaced:
                    return "replaced by a newer connection"

    async def _frame(self, conn: _Connection, frame: bytes) -> bool:
        """Handle one frame; False when the connection must close."""
        received = self.clock()
        was_authenticated = conn.session.authenticated
        out = conn.session.on_frame(frame, received)
        self._account(conn, out, received)
        if out.replies:
            conn.writer.write(b"".join(out.replies))
        if not was_authenticated and conn.session.authenticated:
            conn.deadline = time.monotonic() + self.config.idle_timeout_s
            self._take_over(conn)
        if out.messages:
            if not await self.publisher.publish(out.messages, self.config.publish_timeout_s):
                self.stats.refused["broker_timeout"] += 1  # no answer: the terminal sends it again
                return not out.close
            self.stats.published += len(out.messages)
        if out.ack is not None:
            conn.writer.write(out.ack)
        await conn.writer.drain()
        return not out.close

    def _take_over(self, conn: _Connection) -> None:
        """Make this the terminal's connection; close an older one of the same phone number."""
        key = conn.session.key
        assert key is not None
        old = self.active.get(key)
        if old is not None and old is not conn:
            old.replaced = True
            old.writer.close()
            self.stats.refused["replaced_connection"] += 1
            log.info("gateway.replaced", phone=conn.session.phone, old=old.peer, new=conn.peer)
        self.active[key] = conn

    def _account(self, conn: _Connection, out: Outcome, received_ms: int) -> None:
        self.stats.frames.update(out.counts)
        for reject in out.rejects:
            self.stats.refused[reject.reason] += 1
            log.info(
                "gateway.refused", reason=reject.reason, detail=reject.detail, phone=conn.session.phone, peer=conn.peer
            )
            if reject.raw is not None:
                self.deadletters.write(reject.reason, reject.detail, conn.session.phone, reject.raw, received_ms)

    def _refuse_stream(self, conn: _Connection, exc: FrameError, data: bytes) -> None:
        self.stats.refused[exc.reason] += 1
        log.info("gateway.refused", reason=exc.reason, detail=str(exc), phone=conn.session.phone, peer=conn.peer)
        self.deadletters.write(exc.reason, str(exc), conn.session.phone, data[-self.config.max_frame :], self.clock())

    async def _closed(self, conn: _Connection, reason: str) -> None:
        """Publish the terminal offline (unless a newer connection took over) and close the socket."""
        key = conn.session.key
        if key is not None and self.active.get(key) is conn:
            del self.active[key]
        if not conn.replaced:
            offline = conn.session.on_close(self.clock(), reason)
            if offline and await self.publisher.publish(offline, self.config.publish_timeout_s):
                self.stats.published += len(offline)
        conn.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await conn.writer.wait_closed()
        log.debug("gateway.closed", peer=conn.peer, phone=conn.session.phone, reason=reason)
