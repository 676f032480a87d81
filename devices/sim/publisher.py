"""The MQTT edge of the simulator: one paho client publishing QoS 1 with bounded in-flight messages.

paho's network thread runs the callbacks; they only record what happened (connected, refused,
acknowledged) under a condition variable, and the owner thread acts on it: waits for room, raises
on a refused connection, re-announces the simulator after a reconnect. paho reconnects on its own
(``reconnect_delay_set``) and re-sends unacknowledged QoS 1 messages when it does.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from devices.contracts import DeviceStatus

RETRYABLE_CONNACK = {0x88, 0x89}  # server unavailable, server busy: keep trying; all else is fatal


class PublisherError(RuntimeError):
    """The broker refused the connection, could not be reached, or stopped acknowledging."""


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    """Where and how to publish; the CLI fills it from Settings."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = "citywatch-sim"
    qos: int = 1
    keepalive_s: int = 30
    max_inflight: int = 200  # paho's window of unacknowledged messages on the wire
    max_pending: int = 2000  # published but unacknowledged, queue included: publish() blocks beyond
    connect_timeout_s: float = 10.0
    publish_timeout_s: float = 60.0  # longest wait for room before giving up
    drain_timeout_s: float = 30.0
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    status_topic: str | None = None  # default: citywatch/sim/{client_id}/status (outside the device tree)

    @property
    def resolved_status_topic(self) -> str:
        """Return the topic of the simulator's own online / offline status."""
        return self.status_topic or f"citywatch/sim/{self.client_id}/status"


def _status_payload(client_id: str, state: Literal["online", "offline"], reason: str | None) -> bytes:
    """Return the simulator's own status as a DeviceStatus document (wall-clock time)."""
    device_id = re.sub(r"[^A-Za-z0-9_.-]", "-", client_id)[:64] or "citywatch-sim"
    now_ms = time.time_ns() // 1_000_000
    return DeviceStatus(device_id=device_id, ts_ms=now_ms, seq=0, state=state, reason=reason).model_dump_json().encode()


class MqttPublisher:
    """Publishes payloads with QoS 1, at most ``max_pending`` unacknowledged, reconnecting on its own."""

    def __init__(self, cfg: PublisherConfig) -> None:
        self.cfg = cfg
        self._cond = threading.Condition()
        self._sent = self._acked = self._connects = self._announced = 0
        self._connected = False
        self._fatal: str | None = None
        self._interrupted = False
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        cfg = self.cfg
        client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=cfg.client_id)
        if cfg.username is not None:
            client.username_pw_set(cfg.username, cfg.password)
        client.will_set(
            cfg.resolved_status_topic, _status_payload(cfg.client_id, "offline", "connection lost"), 1, True
        )
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        client.max_inflight_messages_set(cfg.max_inflight)
        client.on_connect, client.on_disconnect, client.on_publish = (
            self._on_connect,
            self._on_disconnect,
            self._on_publish,
        )
        return client

    # paho callbacks (network thread): record, notify, nothing else

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            if reason.is_failure and reason.value not in RETRYABLE_CONNACK:
                self._fatal = f"broker {self.cfg.host}:{self.cfg.port} refused the connection: {reason}"
            elif not reason.is_failure:
                self._connected, self._connects = True, self._connects + 1
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._connected = False
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, _mid: int, _reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._acked += 1
            self._cond.notify_all()

    # owner thread

    @property
    def sent(self) -> int:
        """Messages handed to paho so far."""
        return self._sent

    @property
    def acked(self) -> int:
        """Messages the broker has acknowledged so far."""
        return self._acked

    @property
    def connected(self) -> bool:
        """Tell whether the broker connection is up now."""
        return self._connected

    @property
    def reconnects(self) -> int:
        """How many times the connection was re-established after the first."""
        return max(self._connects - 1, 0)

    def _wait(self, ready: Any, timeout_s: float, interruptible: bool = True) -> bool:
        """Wait until ``ready()`` holds; raise on a fatal refusal; return False on timeout or interrupt."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not ready():
                if self._fatal:
                    raise PublisherError(self._fatal)
                remaining = deadline - time.monotonic()
                if (interruptible and self._interrupted) or remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))
            return True

    def connect(self) -> None:
        """Connect (paho retries in the background) and wait, bounded, for the broker to accept us."""
        self._client.connect_async(self.cfg.host, self.cfg.port, self.cfg.keepalive_s)
        self._client.loop_start()
        try:
            connected = self._wait(lambda: self._connected, self.cfg.connect_timeout_s)
        except PublisherError:
            self._shutdown()
            raise
        if connected:
            self._announce()
        elif not self._interrupted:  # interrupted: the owner is stopping and will close()
            self._shutdown()
            where, within = f"{self.cfg.host}:{self.cfg.port}", self.cfg.connect_timeout_s
            raise PublisherError(f"no connection to {where} within {within:g} s")

    def _announce(self) -> None:
        """Publish the simulator's retained ``online`` status once per (re)connection."""
        self._announced = self._connects
        self._send(self.cfg.resolved_status_topic, _status_payload(self.cfg.client_id, "online", None), True)

    def _send(self, topic: str, payload: bytes, retain: bool) -> None:
        with self._cond:
            self._sent += 1
        info = self._client.publish(topic, payload, self.cfg.qos, retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            with self._cond:
                self._sent -= 1
            raise PublisherError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> bool:
        """Publish one payload once there is room; False if interrupted; raise if the broker stalls."""
        if not self._wait(lambda: self._sent - self._acked < self.cfg.max_pending, self.cfg.publish_timeout_s):
            if self._interrupted:
                return False
            raise PublisherError(f"broker acknowledged nothing for {self.cfg.publish_timeout_s:g} s")
        if self._connects > self._announced:
            self._announce()
        self._send(topic, payload, retain)
        return True

    def drain(self, timeout_s: float | None = None) -> int:
        """Wait (bounded) for every publish to be acknowledged; return how many are still unacknowledged."""
        timeout_s = self.cfg.drain_timeout_s if timeout_s is None else timeout_s
        self._wait(lambda: self._acked >= self._sent, timeout_s, interruptible=False)
        return max(self._sent - self._acked, 0)

    def interrupt(self) -> None:
        """Make a publish() blocked for room return False now (thread-safe; for Ctrl-C)."""
        with self._cond:
            self._interrupted = True
            self._cond.notify_all()

    def close(self) -> None:
        """Publish the simulator's ``offline`` status, disconnect cleanly and stop the network thread."""
        if self._connected:
            info = self._client.publish(
                self.cfg.resolved_status_topic,
                _status_payload(self.cfg.client_id, "offline", "simulator stopped"),
                1,
                True,
            )
            if info.rc == mqtt.MQTT_ERR_SUCCESS:
                info.wait_for_publish(timeout=2.0)
        self._shutdown()

    def _shutdown(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
