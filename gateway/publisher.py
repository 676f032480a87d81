"""The gateway's MQTT edge: publish QoS 1 and let the caller await the broker's acknowledgement.

One paho client for every terminal of the process (the gateway has its own login, allowed to write
vehicle topics only). paho's network thread resolves each publish's future on PUBACK; a terminal's
frame is answered only after that, so what the terminal was told is taken is in the broker. paho
reconnects by itself and sends unacknowledged messages again (a resend carries the same ``seq``,
which the engine drops as a duplicate).
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from devices.contracts import DeviceStatus, Message

log = structlog.get_logger("gateway.mqtt")
READ_AHEAD = 65536


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
        """Read packets until the socket and the buffer are both empty."""
        rc = super().loop_read(max_packets)
        while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._ahead and self._sock is not None:
            rc = super().loop_read(max_packets)
        return rc


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
        self._early: set[int] = set()  # acknowledged before publish() returned their message id
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        client = ReadAheadClient(CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False,
                             protocol=mqtt.MQTTv311)
        if config.username:
            client.username_pw_set(config.username, config.password)
        if config.tls_ca:
            client.tls_set(ca_certs=config.tls_ca, certfile=config.tls_cert, keyfile=config.tls_key,
                           tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.max_inflight_messages_set(config.max_inflight)
        client.max_queued_messages_set(0)  # paho keeps what it could not send yet; our callers bound it
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        self._loop = loop
        self._client.connect_async(self.config.host, self.config.port, self.config.keepalive_s)
        self._client.loop_start()

    def stop(self) -> None:
        """Disconnect and stop paho's thread."""
        self._client.disconnect()
        self._client.loop_stop()

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
        except TimeoutError:
            return False
        return True

    def _send(self, msg: Message) -> asyncio.Future[None]:
        assert self._loop is not None
        future: asyncio.Future[None] = self._loop.create_future()
        topic = DeviceStatus.topic_for_kind("vehicle", msg.device_id) if isinstance(msg, DeviceStatus) \
            else msg.topic_for(msg.device_id)
        # Never call paho while holding our lock: paho calls on_publish holding its own locks, and
        # on_publish takes ours (lock-order inversion, a deadlock under load). The acknowledgement
        # may therefore arrive before the message id is known here: ``_early`` keeps it.
        info = self._client.publish(topic, msg.model_dump_json(), qos=1, retain=isinstance(msg, DeviceStatus))
        with self._lock:
            if info.mid in self._early:
                self._early.discard(info.mid)
                future.set_result(None)
            else:
                self._pending[info.mid] = future
        return future

    def _on_publish(self, client: mqtt.Client, userdata: object, mid: int, reason: ReasonCode, props: object) -> None:
        with self._lock:
            future = self._pending.pop(mid, None)
            if future is None:
                self._early.add(mid)
        if future is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(_resolve, future)

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                    props: object) -> None:
        if reason.is_failure:
            log.error("gateway.mqtt_refused", reason=str(reason))
            return
        self.connected.set()
        log.info("gateway.mqtt_connected", host=self.config.host, port=self.config.port)

    def _on_disconnect(self, client: mqtt.Client, userdata: object, flags: object, reason: ReasonCode,
                       props: object) -> None:
        self.connected.clear()
        log.warning("gateway.mqtt_disconnected", reason=str(reason))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
