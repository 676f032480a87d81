"""`citywatch devices add | revoke` against the real Mosquitto: applied on SIGHUP, without a restart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner

from citywatch.cli import main
from ingest.mqtt_source import MqttSource
from tests.security.broker import Broker
from tests.security.probe import Probe, received_until
from tests.support import wait_for

pytestmark = pytest.mark.services

Probes = Callable[..., Probe]


def devices_cli(broker: Broker, *args: str) -> tuple[int, str, str]:
    """Run `citywatch devices ...` with the broker's files; return exit code, stdout and all output."""
    env = {
        "CITYWATCH_MQTT_PASSWD_FILE": str(broker.passwd),
        "CITYWATCH_MQTT_ACL_FILE": str(broker.acl),
        "CITYWATCH_MQTT_PID_FILE": str(broker.pid_file),
    }
    result = CliRunner().invoke(main, ["devices", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.output


def connect_when_accepted(probes: Probes, broker: Broker, username: str, password: str) -> Probe:
    """Return a connected probe once the broker (reloading in the background) accepts the login."""

    def attempt() -> Probe | None:
        probe = probes(broker.port, username, password)
        if probe.connect() == 0:
            return probe
        probe.close()
        return None

    return wait_for(attempt, 10, what=f"the broker to accept {username}")


def test_an_added_device_connects_and_publishes_without_a_restart(
    broker: Broker, probes: Probes, ingest: MqttSource
) -> None:
    code, stdout, output = devices_cli(broker, "add", "--kind", "camera", "cam-0042")
    assert code == 0, output
    fields = dict(line.split(": ", 1) for line in stdout.splitlines())
    assert fields["username"] == "camera/cam-0042" and len(fields["password"]) == 32
    assert f"SIGHUP to pid {broker.process.pid}" in output
    camera = connect_when_accepted(probes, broker, fields["username"], fields["password"])
    assert camera.publish("citywatch/v1/camera/cam-0042/event") == 0
    assert received_until(ingest, "citywatch/v1/camera/cam-0042/event") == ["citywatch/v1/camera/cam-0042/event"]
    assert broker.process.poll() is None  # the same process: reloaded, not restarted


def test_a_revoked_device_is_cut_off_and_cannot_come_back(broker: Broker, probes: Probes, ingest: MqttSource) -> None:
    revoked, kept = broker.devices["truck-0001"], broker.devices["truck-0002"]
    truck = probes(broker.port, revoked.username, revoked.password)
    assert truck.connect(will=(f"{revoked.topic_prefix}/status", b'{"state": "offline"}')) == 0
    other = probes(broker.port, kept.username, kept.password)
    assert other.connect() == 0
    code, _, output = devices_cli(broker, "revoke", "truck-0001")
    assert code == 0 and "revoked vehicle/truck-0001" in output, output
    # Mosquitto 2.0.11 re-checks connected clients on reload: the revoked one is disconnected at
    # once and its last will is discarded, not published; the other device's session goes on.
    wait_for(truck.answers.disconnected.is_set, 10, what="the broker to drop the revoked device")
    assert other.publish(f"{kept.topic_prefix}/telemetry") == 0 and not other.answers.disconnected.is_set()
    assert received_until(ingest, f"{kept.topic_prefix}/telemetry") == [f"{kept.topic_prefix}/telemetry"]
    assert probes(broker.port, revoked.username, revoked.password).connect().value == 0x87
