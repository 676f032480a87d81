"""A plain paho client, as a device would use it, that records what the broker answers."""

from __future__ import annotations

import itertools
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.mqtt_source import MqttSource
from tests.support import wait_for

BARRIER_TOPIC = "citywatch/barrier"  # nobody may publish here: the PUBACK is a pure round trip
_ids = itertools.count()


@dataclass
class Answers:
    """What the broker sent, filled in by paho's network thread."""

    connacks: list[ReasonCode] = field(default_factory=list)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    subacks: dict[int, list[ReasonCode]] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)


class Probe:
    """One MQTT connection: connect, publish and subscribe with bounded waits for the broker's answers."""

    def __init__(
        self,
        port: int,
        username: str | None = None,
        password: str | None = None,
        *,
        mqtt5: bool = True,
        tls_ca: Path | None = None,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        trust_system_cas: bool = False,
    ) -> None:
        self.port = port
        self.answers = Answers()
        name = (username or "anonymous").replace("/", "-")
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"probe-{name}-{next(_ids)}",
            protocol=mqtt.MQTTv5 if mqtt5 else mqtt.MQTTv311,
            reconnect_on_failure=False,
        )  # a probe reports a hang-up, it never retries
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls_ca is not None or trust_system_cas:
            self.client.tls_set(
                ca_certs=str(tls_ca) if tls_ca else None,
                certfile=str(tls_cert) if tls_cert else None,
                keyfile=str(tls_key) if tls_key else None,
            )
        self._wire()

    def _wire(self) -> None:
        a = self.answers
        self.client.on_connect = lambda _c, _u, _f, rc, _p: a.connacks.append(rc)
        self.client.on_publish = lambda _c, _u, mid, rc, _p: a.pubacks.__setitem__(mid, rc)
        self.client.on_subscribe = lambda _c, _u, mid, rcs, _p: a.subacks.__setitem__(mid, rcs)
        self.client.on_message = lambda _c, _u, msg: a.messages.append((msg.topic, msg.payload))
        self.client.on_disconnect = lambda _c, _u, _f, _rc, _p: a.disconnected.set()

    def connect(self, will: tuple[str, bytes] | None = None, timeout: float = 10.0) -> ReasonCode | None:
        """Connect and return the CONNACK reason code, or None if the broker hung up before sending one.

        A failed TLS handshake raises here (ssl.SSLError).
        """
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        except OSError as exc:
            _close_sockets(exc.__traceback__)
            raise
        self.client.loop_start()
        a = self.answers
        wait_for(lambda: a.connacks or a.disconnected.is_set(), timeout, interval=0.02, what="CONNACK or hang-up")
        return a.connacks[0] if a.connacks else None

    def publish(self, topic: str, payload: bytes = b"{}", retain: bool = False, timeout: float = 10.0) -> ReasonCode:
        """Publish with QoS 1 and return the PUBACK reason code."""
        mid = self.client.publish(topic, payload, qos=1, retain=retain).mid
        return wait_for(lambda: self.answers.pubacks.get(mid), timeout, interval=0.02, what=f"PUBACK for {topic}")

    def subscribe(self, topic: str, timeout: float = 10.0) -> list[ReasonCode]:
        """Subscribe with QoS 1 and return the SUBACK reason codes."""
        mid = self.client.subscribe(topic, qos=1)[1]
        return wait_for(lambda: self.answers.subacks.get(mid), timeout, interval=0.02, what=f"SUBACK for {topic}")

    def barrier(self) -> None:
        """Make a round trip: whatever the broker routed to us before it has now arrived.

        Mosquitto writes a client's packets in order, and paho hands them to the callbacks in
        order, so a message queued for us earlier is in ``messages`` once this PUBACK is in.
        """
        self.publish(BARRIER_TOPIC)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def _close_sockets(tb: TracebackType | None) -> None:
    """Close the sockets a failed connect left open (paho 2.2 does not close a failed TLS handshake's)."""
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, socket.socket):
                value.close()
        tb = tb.tb_next


def received_until(source: MqttSource, last_topic: str, timeout: float = 10.0) -> list[str]:
    """Return the topics ingest received, up to and including the first message on last_topic."""
    topics: list[str] = []

    def arrived() -> bool:
        batch = source.get_batch(100, timeout=0.05)
        source.ack(batch)
        topics.extend(m.topic for m in batch)
        return last_topic in topics

    wait_for(arrived, timeout, interval=0.01, what=f"ingest to receive {last_topic}")
    return topics
