"""The gateway's MQTT edge: publish QoS 1 and let the caller await the broker's acknowledgement.

One paho client for every terminal of the process (the gateway has its own login, allowed to write
vehicle topics only), driven by the gateway's own asyncio loop (paho's external-loop interface: the
loop watches its socket and calls ``loop_read`` / ``loop_write``), so a PUBACK resolves its future
in the same thread, with no lock, no thread switch and no wake-up pipe per message (a thread of its
own cost a third of the gateway's CPU). A terminal's frame is answered only after the PUBACK, so what
the terminal was told is taken is in the broker. When the connection is lost, a task connects again
(the blocking connect and TLS handshake in a worker thread, backing off 1 s to 30 s) and paho sends
the unacknowledged messages again (a resend carries the same ``seq``, which the engine drops).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from devices.contracts import DeviceStatus, Message

log = structlog.get_logger("gateway.mqtt")
READ_AHEAD = 65536
RECONNECT_MIN_S, RECONNECT_MAX_S = 1.0, 30.0
MISC_EVERY_S = 1.0
MID_ATTEMPTS = 100  # keepalive pings and their timeout (paho's loop_misc)


class ReadAheadClient(mqtt.Client):
    """paho's client reading the socket in large chunks.

    paho 2.2 reads every packet with at least three ``recv`` calls (command byte, each length byte,
    body): with thousands of PUBACKs a second that was a sixth of the gateway's CPU. This one reads
    what the socket has once and serves paho's small reads from it; ``loop_read`` goes on while
    anything is buffered (the socket will not signal it again). The buffer belongs to one socket and
    is dropped with it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ahead = bytearray()

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self._ahead:
            data = super()._sock_recv(READ_AHEAD)
            if not data:
                return data  # the broker closed the connection
            self._ahead += data
        chunk = bytes(self._ahead[:bufsize])
        del self._ahead[:bufsize]
        return chunk

    def _sock_close(self) -> None:
        self._ahead.clear()
        super()._sock_close()

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read packets until the socket, TLS and the buffer are all empty."""
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._sock is not None and (self._ahead or self._tls_pending()):
            rc = super().loop_read(max_packets)
        return rc

    def _tls_pending(self) -> bool:
        """Tell whether TLS holds decrypted bytes (the socket will not signal them)."""
        pending = getattr(self._sock, "pending", None)
        return bool(pending and pending() > 0)


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where and as whom the gateway publishes."""

    host: str
    port: int
    client_id: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    # 0: no window of paho's own. Each terminal waits for its answer, so what is in flight is bounded by
    # the connections (max_connections); paho's window rescans every queued message on each PUBACK.
    max_inflight: int = 0
    keepalive_s: int = 30


class Publisher:
    """Publishes contract messages; ``publish`` returns when the broker has every one of them."""

    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.connected = threading.Event()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self.mid_collisions = 0
        self._delay = RECONNECT_MIN_S  # before the next connection attempt; back to the minimum once connected
        client = ReadAheadClient(
            CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False, protocol=mqtt.MQTTv311
        )
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls_ca:
            client.tls_set(
                ca_certs=config.tls_ca,
                certfile=config.tls_cert,
                keyfile=config.tls_key,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.max_inflight_messages_set(config.max_inflight)
        client.max_queued_messages_set(0)  # paho keeps what it could not send yet; our callers bound it
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_socket_open = lambda c, u, sock: self._in_loop(self._watch, sock)
        client.on_socket_close = lambda c, u, sock: self._in_loop(self._unwatch, sock)
        client.on_socket_register_write = lambda c, u, sock: self._in_loop(self._watch_write, sock)
        client.on_socket_unregister_write = lambda c, u, sock: self._in_loop(self._unwatch_write, sock)
        self._client = client

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect in the background, and again whenever the connection is lost (call from the loop's thread)."""
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._task = loop.create_task(self._keep_connected(), name="gateway-mqtt")

    def stop(self) -> None:
        """Send DISCONNECT (what is still unacknowledged stays in the broker's session) and close."""
        if self._task is not None:
            self._task.cancel()
        if self._client.socket() is not None:
            self._client.disconnect()
            self._client.loop_write()  # a few bytes on a connected socket: written now, then paho closes it

    async def publish(self, messages: list[Message], timeout_s: float) -> bool:
        """Publish QoS 1 (statuses retained); True when the broker acknowledged all within the timeout."""
        if not messages:
            return True
        assert self._loop is not None, "start() first"
        futures = [self._send(msg) for msg in messages]
        try:
            async with asyncio.timeout(timeout_s):  # cheaper than wait_for(gather(...)): no extra tasks
                for future in futures:
                    await future
        except (TimeoutError, ConnectionError):
            return False
        return True

    def _send(self, msg: Message) -> asyncio.Future[None]:
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        topic = (
            DeviceStatus.topic_for_kind("vehicle", msg.device_id)
            if isinstance(msg, DeviceStatus)
            else msg.topic_for(msg.device_id)
        )
        payload, retain = msg.model_dump_json(), isinstance(msg, DeviceStatus)
        for _ in range(MID_ATTEMPTS):
            info = self._client.publish(topic, payload, qos=1, retain=retain)
            if info.rc != MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:  # sent, or kept for the next connection
                self._pending[info.mid] = future  # its PUBACK is read by this thread, later: no race
                return future
            # paho's 16-bit message id came round to one still unacknowledged: paho refused to send
            # (and to number) it; the next id is another one
            self.mid_collisions += 1
            log.warning("gateway.mqtt_id_in_use", mid=info.mid, unacknowledged=len(self._pending))
        future.set_exception(ConnectionError(f"no free MQTT message id in {MID_ATTEMPTS} attempts"))
        return future

    async def _keep_connected(self) -> None:
        """Connect, and connect again after a loss; meanwhile run paho's keepalive."""
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)  # where, not yet
        first = True  # the first attempt at once; later ones after the delay (1 s, doubling until accepted)
        while True:
            if self._client.socket() is None:
                if not first:
                    await asyncio.sleep(self._delay)
                    self._delay = min(self._delay * 2, RECONNECT_MAX_S)
                first = False
                try:
                    await asyncio.to_thread(self._client.reconnect)
                except (OSError, ssl.SSLError) as exc:
                    log.warning(
                        "gateway.mqtt_unreachable",
                        host=self.config.host,
                        port=self.config.port,
                        error=str(exc) or type(exc).__name__,
                        retry_s=self._delay,
                    )
                    continue
            self._client.loop_misc()
            await asyncio.sleep(MISC_EVERY_S)

    def _in_loop(self, action: Callable[[Any], None], sock: Any) -> None:
        """Run a socket-watch change in the loop's thread (paho calls from the connecting thread too)."""
        assert self._loop is not None
        if threading.get_ident() == self._loop_thread:
            action(sock)
        else:
            self._loop.call_soon_threadsafe(action, sock)

    def _watch(self, sock: Any) -> None:
        assert self._loop is not None
        self._loop.add_reader(sock, self._client.loop_read)

    def _unwatch(self, sock: Any) -> None:
        assert self._loop is not None
        if sock.fileno() >= 0:
            self._loop.remove_reader(sock)
            self._loop.remove_writer(sock)

    def _watch_write(self, sock: Any) -> None:
        assert self._loop is not None
        fd: int = sock.fileno()
        if fd >= 0 and sock is self._client.socket():
            self._loop.add_writer(fd, self._client.loop_write)

    def _unwatch_write(self, sock: Any) -> None:
        assert self._loop is not None
        if sock.fileno() >= 0:
            self._loop.remove_writer(sock)

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: object) -> None:
        future = self._pending.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object
    ) -> None:
        if reason.is_failure:
            log.error("gateway.mqtt_refused", reason=str(reason))
            return
        self.connected.set()
        self._delay = RECONNECT_MIN_S
        log.info("gateway.mqtt_connected", host=self.config.host, port=self.config.port)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode, props: object
    ) -> None:
        self.connected.clear()
        log.warning("gateway.mqtt_disconnected", reason=str(reason))
