"""The deploy ACL and password file on the real Mosquitto: who may log in, publish and read what.

Measured on Mosquitto 2.0.11 (Debian 12): a refused publish is answered with PUBACK 0x87 under
MQTT 5 and with a plain PUBACK under 3.1.1 (the device cannot tell; the message is dropped); a
subscription to topics the client may not read is *granted* (SUBACK QoS 1) and simply delivers
nothing, because Mosquitto checks read rights per message at delivery. So every refusal below is
also asserted by its effect: the message never reaches a subscriber that may read it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from devices.contracts import DEVICE_KINDS
from ingest.mqtt_source import MqttConfig, MqttSource
from tests.security.broker import SERVICE_ACCOUNTS, Broker
from tests.security.probe import Probe, received_until

pytestmark = pytest.mark.services

NOT_AUTHORIZED = 0x87
Probes = Callable[..., Probe]


def login(probes: Probes, broker: Broker, device_id: str, mqtt5: bool = True) -> Probe:
    """Return a connected probe logged in with a device's own account."""
    account = broker.devices[device_id]
    probe = probes(broker.port, account.username, account.password, mqtt5=mqtt5)
    assert probe.connect() == 0, f"{account.username} could not log in"
    return probe


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt311"])
def test_anonymous_clients_are_refused(broker: Broker, probes: Probes, mqtt5: bool) -> None:
    assert probes(broker.port, mqtt5=mqtt5).connect().value == NOT_AUTHORIZED


def test_a_wrong_password_is_refused(broker: Broker, probes: Probes) -> None:
    username = broker.devices["truck-0001"].username
    # 2.0.11 answers a wrong password with 0x87 Not authorized, not 0x86 Bad user name or password.
    assert probes(broker.port, username, "not-the-password").connect().value == NOT_AUTHORIZED


def test_a_device_publishes_under_its_own_kind_and_id(broker: Broker, probes: Probes, ingest: MqttSource) -> None:
    status = "citywatch/v1/vehicle/truck-0001/status"
    truck = probes(broker.port, broker.devices["truck-0001"].username, broker.devices["truck-0001"].password)
    assert truck.connect(will=(status, b'{"state": "offline"}')) == 0
    assert truck.publish(status, retain=True) == 0
    assert truck.publish("citywatch/v1/vehicle/truck-0001/telemetry") == 0
    assert received_until(ingest, "citywatch/v1/vehicle/truck-0001/telemetry") == [
        status,
        "citywatch/v1/vehicle/truck-0001/telemetry",
    ]


@pytest.mark.parametrize("mqtt5", [True, False], ids=["mqtt5", "mqtt311"])
def test_a_device_cannot_publish_as_another_device(
    broker: Broker, probes: Probes, ingest: MqttSource, mqtt5: bool
) -> None:
    truck = login(probes, broker, "truck-0001", mqtt5=mqtt5)
    answer = truck.publish("citywatch/v1/vehicle/truck-0002/telemetry")
    assert answer.value == (NOT_AUTHORIZED if mqtt5 else 0)  # 3.1.1 has no reason code: dropped silently
    own = "citywatch/v1/vehicle/truck-0001/telemetry"
    assert truck.publish(own) == 0
    assert received_until(ingest, own) == [own]


@pytest.mark.parametrize("other_kind", [k for k in DEVICE_KINDS if k != "vehicle"])
def test_a_device_cannot_publish_as_another_kind(
    broker: Broker, probes: Probes, ingest: MqttSource, other_kind: str
) -> None:
    truck = login(probes, broker, "truck-0001")
    for channel in ("telemetry", "event", "status"):
        assert truck.publish(f"citywatch/v1/{other_kind}/truck-0001/{channel}").value == NOT_AUTHORIZED
    own = "citywatch/v1/vehicle/truck-0001/event"
    assert truck.publish(own) == 0
    assert received_until(ingest, own) == [own]


def test_a_device_cannot_read_other_devices(broker: Broker, probes: Probes, ingest: MqttSource) -> None:
    other = login(probes, broker, "truck-0002")
    assert other.publish("citywatch/v1/vehicle/truck-0002/status", retain=True) == 0
    spy = login(probes, broker, "truck-0001")
    for pattern in ("citywatch/v1/vehicle/truck-0002/#", "citywatch/v1/#", "#"):
        assert [rc.value for rc in spy.subscribe(pattern)] == [1]  # granted: refused per message, see above
    assert other.publish("citywatch/v1/vehicle/truck-0002/telemetry") == 0
    assert received_until(ingest, "citywatch/v1/vehicle/truck-0002/telemetry")  # it was delivered to ingest...
    spy.barrier()
    assert spy.answers.messages == []  # ...and not to the other device, retained status included


@pytest.mark.parametrize("share_group", ["", "ingest"], ids=["plain", "shared"])
def test_ingest_reads_every_kind_and_writes_nothing(broker: Broker, probes: Probes, share_group: str) -> None:
    source = MqttSource(
        MqttConfig(
            "127.0.0.1",
            broker.port,
            client_id=f"ingest-{share_group}",
            username="ingest",
            password=SERVICE_ACCOUNTS["ingest"],
            share_group=share_group,
            session_expiry_s=0,
        ),
        100,
    )
    source.start()
    try:
        assert source.wait_subscribed(10)
        sent = []
        for device_id, account in broker.devices.items():
            sent.append(f"{account.topic_prefix}/status")
            assert login(probes, broker, device_id).publish(sent[-1]) == 0
        got = received_until(source, sent[-1])
    finally:
        source.stop()
    assert sorted(got) == sorted(sent) and {t.split("/")[2] for t in got} == set(DEVICE_KINDS)
    service = probes(broker.port, "ingest", SERVICE_ACCOUNTS["ingest"])
    assert service.connect() == 0
    for topic in ("citywatch/v1/vehicle/truck-0001/telemetry", "citywatch/v1/ingest/x/telemetry"):
        assert service.publish(topic).value == NOT_AUTHORIZED


def test_the_simulator_publishes_for_the_fleet_and_its_own_status(
    broker: Broker, probes: Probes, ingest: MqttSource
) -> None:
    sim = probes(broker.port, "simulator", SERVICE_ACCOUNTS["simulator"])
    assert sim.connect(will=("citywatch/sim/citywatch-sim/status", b"{}")) == 0
    assert not sim.publish("citywatch/sim/citywatch-sim/status", retain=True).is_failure  # 0x10: no subscriber
    assert sim.publish("citywatch/v1/camera/any-camera/event") == 0
    assert received_until(ingest, "citywatch/v1/camera/any-camera/event") == ["citywatch/v1/camera/any-camera/event"]


def test_the_jt808_gateway_publishes_vehicle_topics_only(broker: Broker, probes: Probes, ingest: MqttSource) -> None:
    gateway = probes(broker.port, "gateway", SERVICE_ACCOUNTS["gateway"])
    assert gateway.connect() == 0
    assert gateway.publish("citywatch/v1/facility/fill-s01/telemetry").value == NOT_AUTHORIZED
    assert gateway.publish("citywatch/v1/camera/cam-01/event").value == NOT_AUTHORIZED
    assert gateway.publish("citywatch/v1/vehicle/gps-m01/status", retain=True) == 0
    assert gateway.publish("citywatch/v1/vehicle/gps-m01/telemetry") == 0
    assert received_until(ingest, "citywatch/v1/vehicle/gps-m01/telemetry") == [
        "citywatch/v1/vehicle/gps-m01/status",
        "citywatch/v1/vehicle/gps-m01/telemetry",
    ]
