"""MQTT in: a persistent session whose paho callbacks only enqueue; the owner takes batches.

Messages are acknowledged (PUBACK) only after the owner has forwarded them (manual ack), so
a crash between receipt and forwarding loses nothing: the broker redelivers. The queue is
bounded: when it is full the paho network thread waits, and TCP pushes back on the broker.

The session survives restarts of ingest and of the broker only if the client id is the same
every time (``MqttConfig.client_id`` comes from the instance name, never from the pid) and the
subscription is a plain one: Mosquitto 2.0 does not restore the *shared* subscriptions of an
offline session from its persistence file, so whatever devices publish between a broker
restart and ingest's reconnect would reach nobody (measured: 0 of 10 kept; a plain
subscription kept 10 of 10; ``tests/ingest/test_mqtt_source.py``). Load is split by giving
each ingest instance its own topic filters. A message is acknowledged only on the connection
that delivered it; after a reconnect the broker sends it again.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.contracts import TOPIC_ROOT

AUTH_FAILURES = {"Bad user name or password", "Not authorized"}
SESSION_TAKEN_OVER = 142  # MQTT 5 reason code: another connection with our client id took the session
SHORT_CONNECTION_S = 5.0  # a connection dropped sooner than this after it was accepted is suspicious ...
TAKEOVER_AFTER = 3  # ... and this many in a row mean another process uses our client id
SUBSCRIPTION_ROOT = f"{TOPIC_ROOT}/#"


class IngestError(RuntimeError):
    """The MQTT source cannot go on (bad credentials, refused subscription)."""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """How to reach the broker and which subscription to share."""

    host: str
    port: int
    client_id: str
    share_group: str = ""  # non-empty: a shared subscription ($share/{group}/...); see the module docstring
    topics: tuple[str, ...] = (SUBSCRIPTION_ROOT,)  # the filters this instance owns
    username: str | None = None
    password: str | None = None
    session_expiry_s: int = 3600
    receive_maximum: int = 10_000
    mqtt5: bool = True  # False: MQTT 3.1.1 for brokers without v5 (e.g. amqtt), persistent session
    tls_ca: str | None = None  # CA file: connect over TLS and verify the broker's certificate
    tls_cert: str | None = None  # client certificate and key, if the broker asks for one
    tls_key: str | None = None

    @property
    def subscriptions(self) -> list[str]:
        """Return the subscription filters (shared, when a group is set)."""
        return [f"$share/{self.share_group}/{t}" if self.share_group else t for t in self.topics]

    @property
    def subscription(self) -> str:
        """Return the subscription filters as one line, for logs."""
        return " ".join(self.subscriptions)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message, still to be acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int
    connection: int = 0  # which connection delivered it: only that one may acknowledge it


class MqttSource:
    """Receives messages on a persistent session (plain or shared subscription) into a bounded queue."""

    def __init__(self, cfg: MqttConfig, queue_size: int) -> None:
        self.cfg = cfg
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_size)
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._connection = 0  # counts successful connects; paho's thread writes, the owner reads
        self._subscribed_once = False
        self._connected_at = 0.0
        self._short_connections = 0  # connections in a row that the broker dropped within seconds
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.cfg.client_id,
            protocol=mqtt.MQTTv5 if self.cfg.mqtt5 else mqtt.MQTTv311,
            manual_ack=True,
            clean_session=None if self.cfg.mqtt5 else False,
        )
        if self.cfg.username:
            client.username_pw_set(self.cfg.username, self.cfg.password)
        if self.cfg.tls_ca:
            client.tls_set(ca_certs=self.cfg.tls_ca, certfile=self.cfg.tls_cert, keyfile=self.cfg.tls_key)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects on its own."""
        if self.cfg.mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.cfg.session_expiry_s
            props.ReceiveMaximum = self.cfg.receive_maximum
            self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=30, clean_start=False, properties=props)
        else:
            self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
        self._client.loop_start()

    @property
    def connected(self) -> bool:
        """Tell whether the client is connected to the broker now (for /healthz)."""
        return bool(self._client.is_connected())

    def queued(self) -> int:
        """Return how many received messages wait to be taken (for /metrics)."""
        return self._queue.qsize()

    def wait_subscribed(self, timeout: float) -> bool:
        """Wait until the subscription is in place (or the source failed)."""
        ok = self._subscribed.wait(timeout)
        self.raise_if_failed()
        return ok

    def get_batch(self, max_items: int, timeout: float) -> list[Inbound]:
        """Return up to max_items messages, waiting at most timeout for the first."""
        self.raise_if_failed()
        try:
            batch = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while len(batch) < max_items:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def ack(self, batch: list[Inbound]) -> int:
        """Acknowledge forwarded messages to the broker; return how many were acknowledged.

        A message delivered on an earlier connection is not acknowledged: its packet id may name
        another message now, and the broker sends it again (the runners drop the repeat by seq).
        """
        current, done = self._connection, 0
        for item in batch:
            if item.qos > 0 and item.connection == current:
                self._client.ack(item.mid, item.qos)
                done += 1
        return done

    def raise_if_failed(self) -> None:
        """Re-raise in the owner what the network thread caught."""
        if self._failure is not None:
            raise IngestError(str(self._failure)) from self._failure

    def stop(self) -> None:
        """Disconnect and stop the network thread; unacknowledged messages stay with the broker."""
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()

    # paho callbacks: run on the network thread, only record or enqueue.
    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, rc: ReasonCode, _p: object
    ) -> None:
        if rc.is_failure:
            if str(rc) in AUTH_FAILURES:
                self._failure = IngestError(f"MQTT broker refused us: {rc}")
                self._subscribed.set()  # wake wait_subscribed: it raises the failure at once
                client.disconnect()
            return
        self._connection += 1
        self._connected_at = time.monotonic()
        if flags.session_present and self._subscribed_once:
            self._subscribed.set()  # the broker kept our session and its subscriptions (and queue)
            return
        client.subscribe([(topic, 1) for topic in self.cfg.subscriptions])

    def _on_disconnect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if self._stopping.is_set():
            return
        short = time.monotonic() - self._connected_at < SHORT_CONNECTION_S
        self._short_connections = self._short_connections + 1 if short else 0
        if rc == SESSION_TAKEN_OVER or self._short_connections >= TAKEOVER_AFTER:
            # Mosquitto 2.0 closes a taken-over connection without saying why; two processes with one
            # client id then take the session from each other every reconnect: connections of a second.
            self._failure = IngestError(
                f"another MQTT client probably took the session of our client id {self.cfg.client_id!r} "
                f"(the broker dropped us {self._short_connections or 1} times right after accepting us): "
                "give every ingest process its own CITYWATCH_INGEST_INSTANCE"
            )
            self._subscribed.set()
            client.disconnect()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, rcs: list[ReasonCode], _p: object) -> None:
        if any(rc.is_failure for rc in rcs):
            self._failure = IngestError(f"subscription {self.cfg.subscription} refused: {rcs}")
        self._subscribed_once = True
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        item = Inbound(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self._connection)
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
