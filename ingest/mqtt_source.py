"""MQTT in: a shared subscription whose paho callbacks only enqueue; the owner takes batches.

Messages are acknowledged (PUBACK) only after the owner has forwarded them (manual ack), so
a crash between receipt and forwarding loses nothing: the broker redelivers. The queue is
bounded: when it is full the paho network thread waits, and TCP pushes back on the broker.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from devices.contracts import TOPIC_ROOT

AUTH_FAILURES = {"Bad user name or password", "Not authorized"}


class IngestError(RuntimeError):
    """The MQTT source cannot go on (bad credentials, refused subscription)."""


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """How to reach the broker and which subscription to share."""

    host: str
    port: int
    client_id: str
    share_group: str = "ingest"
    username: str | None = None
    password: str | None = None
    session_expiry_s: int = 3600
    receive_maximum: int = 10_000
    mqtt5: bool = True  # False: MQTT 3.1.1 for brokers without v5 (e.g. amqtt), persistent session

    @property
    def subscription(self) -> str:
        """Return the (shared, when a group is set) subscription filter for every citywatch topic."""
        topics = f"{TOPIC_ROOT}/#"
        return f"$share/{self.share_group}/{topics}" if self.share_group else topics


@dataclass(frozen=True, slots=True)
class Inbound:
    """One received message, still to be acknowledged."""

    topic: str
    payload: bytes
    mid: int
    qos: int


class MqttSource:
    """Receives messages on a shared subscription into a bounded queue."""

    def __init__(self, cfg: MqttConfig, queue_size: int) -> None:
        self.cfg = cfg
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_size)
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
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
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        """Connect in the background; paho's thread reconnects on its own."""
        if self.cfg.mqtt5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.cfg.session_expiry_s
            props.ReceiveMaximum = self.cfg.receive_maximum
            self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=30, clean_start=False,
                                       properties=props)
        else:
            self._client.connect_async(self.cfg.host, self.cfg.port, keepalive=30)
        self._client.loop_start()

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

    def ack(self, batch: list[Inbound]) -> None:
        """Acknowledge forwarded messages to the broker."""
        for item in batch:
            if item.qos > 0:
                self._client.ack(item.mid, item.qos)

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
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        if rc.is_failure:
            if str(rc) in AUTH_FAILURES:
                self._failure = IngestError(f"MQTT broker refused us: {rc}")
                client.disconnect()
            return
        client.subscribe(self.cfg.subscription, qos=1)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, rcs: list[ReasonCode], _p: object) -> None:
        if any(rc.is_failure for rc in rcs):
            self._failure = IngestError(f"subscription {self.cfg.subscription} refused: {rcs}")
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        item = Inbound(msg.topic, msg.payload, msg.mid, msg.qos)
        while not self._stopping.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

