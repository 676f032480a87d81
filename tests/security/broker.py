"""A real Mosquitto run from deploy/mosquitto/mosquitto.conf and the real ACL, on loopback ports."""

from __future__ import annotations

import getpass
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from citywatch.broker import find_mosquitto, free_port, wait_for_port
from devices.provisioning import DeviceAccount, add_device, hash_password

REPO = Path(__file__).resolve().parents[2]
DEPLOY_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
DEPLOY_ACL = REPO / "deploy" / "mosquitto" / "acl"
CERT_SCRIPT = REPO / "scripts" / "mqtt-certs.sh"
SERVICE_ACCOUNTS = {"ingest": "ingest-secret", "simulator": "simulator-secret", "gateway": "gateway-secret"}
DEVICES = (
    ("vehicle", "truck-0001"),
    ("vehicle", "truck-0002"),
    ("camera", "cam-0001"),
    ("facility", "bin-0001"),
    ("site", "site-0001"),
)


@dataclass
class Broker:
    """A running broker: its plain and TLS ports, its files, and how to stop it (by pid)."""

    port: int
    tls_port: int
    passwd: Path
    acl: Path
    pid_file: Path
    log: Path
    process: subprocess.Popen[bytes]
    devices: dict[str, DeviceAccount] = field(default_factory=dict)  # by device id

    def logged(self) -> str:
        """Return what the broker logged so far."""
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Stop this broker's process (SIGTERM, then SIGKILL), never any other."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


StartBroker = Callable[..., Broker]  # the `start` fixture: start(extra_config="") -> Broker


def make_certs(directory: Path, *clients: str) -> Path:
    """Run the project's certificate script into directory; return it."""
    args = [arg for name in clients for arg in ("--client", name)]
    subprocess.run(["bash", str(CERT_SCRIPT), str(directory), *args], check=True, capture_output=True)
    return directory


def write_passwd(path: Path) -> Path:
    """Write a password file holding the service accounts (devices are added with add_device)."""
    path.write_text("".join(f"{user}:{hash_password(pw)}\n" for user, pw in SERVICE_ACCOUNTS.items()))
    path.chmod(0o600)
    return path


def render_config(workdir: Path, port: int, tls_port: int, certs: Path, extra: str = "") -> str:
    """Return the deploy config with its container paths and ports mapped into workdir and loopback."""
    text = DEPLOY_CONF.read_text(encoding="utf-8")
    (workdir / "data").mkdir(exist_ok=True)
    mapping = {
        "listener 1883\n": f"listener {port} 127.0.0.1\n",
        "listener 8883\n": f"listener {tls_port} 127.0.0.1\n",
        "/mosquitto/config/passwd": str(workdir / "passwd"),
        "/mosquitto/config/acl": str(DEPLOY_ACL),
        "/mosquitto/certs/": f"{certs}/",
        "/mosquitto/data/": f"{workdir / 'data'}/",
    }
    for old, new in mapping.items():
        assert old in text, f"{DEPLOY_CONF} no longer has {old!r}: update tests/security/broker.py"
        text = text.replace(old, new)
    # As root Mosquitto would switch to user `mosquitto`, who cannot read the temporary files.
    return f"user {getpass.getuser()}\npid_file {workdir / 'mosquitto.pid'}\n{text}\n{extra}"


def start_broker(workdir: Path, certs: Path, extra: str = "") -> Broker:
    """Start Mosquitto on free loopback ports: deploy config, real ACL, service accounts and DEVICES."""
    binary = os.environ.get("CW_MOSQUITTO") or find_mosquitto()  # CW_MOSQUITTO: vet another broker version
    assert binary, "mosquitto is not installed (scripts/ensure-mosquitto.sh installs it)"
    port = free_port()
    tls_port = next(p for p in iter(free_port, None) if p != port)
    passwd = write_passwd(workdir / "passwd")
    devices = {device_id: add_device(passwd, kind, device_id) for kind, device_id in DEVICES}
    conf = workdir / "mosquitto.conf"
    conf.write_text(render_config(workdir, port, tls_port, certs, extra), encoding="utf-8")
    log = workdir / "mosquitto.log"
    with log.open("ab") as out:
        process = subprocess.Popen([binary, "-c", str(conf)], stdout=out, stderr=out)
    broker = Broker(port, tls_port, passwd, DEPLOY_ACL, workdir / "mosquitto.pid", log, process, devices)
    if not (wait_for_port(port, 10) and wait_for_port(tls_port, 10) and broker.pid_file.exists()):
        broker.stop()
        raise AssertionError(f"mosquitto did not start:\n{broker.logged()[-3000:]}")
    return broker
