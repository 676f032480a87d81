"""MQTT over TLS on the real Mosquitto, with the files of scripts/mqtt-certs.sh and the deploy config."""

from __future__ import annotations

import ssl
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from citywatch.broker import free_port, wait_for_port
from ingest.mqtt_source import MqttConfig, MqttSource
from tests.security.broker import CERT_SCRIPT, SERVICE_ACCOUNTS, StartBroker, make_certs
from tests.security.probe import Probe, received_until
from tests.support import wait_for

pytestmark = pytest.mark.services

Probes = Callable[..., Probe]


def mutual_tls_listener(port: int, certs: Path) -> str:
    """Return config for an extra listener that also wants a client certificate from the CA."""
    return (
        f"listener {port} 127.0.0.1\nprotocol mqtt\ncafile {certs}/ca.crt\ncertfile {certs}/broker.crt\n"
        f"keyfile {certs}/broker.key\nrequire_certificate true\n"
    )


def test_a_device_and_ingest_talk_over_tls(start: StartBroker, certs: Path, probes: Probes) -> None:
    mtls_port = free_port()
    broker = start(extra=mutual_tls_listener(mtls_port, certs))
    assert wait_for_port(mtls_port, 10)
    # ingest: the project's source, CA + client certificate, on the listener that requires one
    source = MqttSource(
        MqttConfig(
            "127.0.0.1",
            mtls_port,
            client_id="ingest-tls",
            username="ingest",
            password=SERVICE_ACCOUNTS["ingest"],
            session_expiry_s=0,
            tls_ca=str(certs / "ca.crt"),
            tls_cert=str(certs / "client-ingest.crt"),
            tls_key=str(certs / "client-ingest.key"),
        ),
        100,
    )
    source.start()
    try:
        assert source.wait_subscribed(10)
        # a device: plain paho, trusts the CA, logs in with its password on the deploy's TLS listener
        truck = broker.devices["truck-0001"]
        device = probes(broker.tls_port, truck.username, truck.password, tls_ca=certs / "ca.crt")
        assert device.connect() == 0
        assert device.publish(f"{truck.topic_prefix}/telemetry", b'{"seq": 1}') == 0
        assert received_until(source, f"{truck.topic_prefix}/telemetry") == [f"{truck.topic_prefix}/telemetry"]
    finally:
        source.stop()
    assert probes(broker.tls_port, tls_ca=certs / "ca.crt").connect().value == 0x87  # TLS is no login


def test_a_client_that_does_not_trust_the_ca_is_refused(start: StartBroker, probes: Probes) -> None:
    broker = start()
    truck = broker.devices["truck-0001"]
    stranger = probes(broker.tls_port, truck.username, truck.password, trust_system_cas=True)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self.signed certificate in certificate chain"):
        stranger.connect()


def test_a_client_without_certificate_is_refused_where_one_is_required(
    start: StartBroker, certs: Path, probes: Probes
) -> None:
    mtls_port = free_port()
    broker = start(extra=mutual_tls_listener(mtls_port, certs))
    truck = broker.devices["truck-0001"]
    device = probes(mtls_port, truck.username, truck.password, tls_ca=certs / "ca.crt")
    # TLS 1.3: the client's handshake is done before the broker checks; the broker then hangs up.
    assert device.connect() is None
    wait_for(lambda: "peer did not return a certificate" in broker.logged(), 10, what="the broker's reason")


def test_the_certificate_script_names_the_broker_and_keeps_keys_private(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs", "truck-0001")
    subprocess.run(
        ["bash", str(CERT_SCRIPT), str(certs), "--san", "DNS:mqtt.city.example"], check=True, capture_output=True
    )
    names = subprocess.run(
        ["openssl", "x509", "-in", str(certs / "broker.crt"), "-noout", "-ext", "subjectAltName"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert all(n in names for n in ("DNS:mosquitto", "DNS:localhost", "IP Address:127.0.0.1"))
    assert "mqtt.city.example" not in names  # existing files are kept: delete broker.* to re-issue
    for key in ("ca.key", "broker.key", "client-truck-0001.key"):
        assert stat.S_IMODE((certs / key).stat().st_mode) == 0o600
    verify = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(certs / "ca.crt"),
            str(certs / "broker.crt"),
            str(certs / "client-truck-0001.crt"),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
