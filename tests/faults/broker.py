"""A Mosquitto of the test's own, with the production broker's persistence and queue settings
(``deploy/mosquitto/mosquitto.conf``, minus listeners, accounts and paths), that a test may kill."""

from __future__ import annotations

import getpass
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from citywatch.broker import find_mosquitto, free_port, wait_for_port

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_CONF = REPO / "deploy" / "mosquitto" / "mosquitto.conf"
PER_DEPLOYMENT = (
    "listener",
    "protocol",
    "password_file",
    "acl_file",
    "allow_anonymous",
    "persistence_location",
    "log_dest",
    "cafile",
    "certfile",
    "keyfile",
    "require_certificate",
    "tls_version",
    "use_identity_as_username",
    "capath",
)


def production_settings() -> list[str]:
    """Return the production config's broker-wide settings (persistence, queues, limits, logging)."""
    lines = [ln.strip() for ln in PRODUCTION_CONF.read_text().splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("#") and ln.split()[0] not in PER_DEPLOYMENT]


@dataclass
class Broker:
    """A private Mosquitto on a free loopback port; data and log in its own directory."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def conf(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def db(self) -> Path:
        return self.workdir / "mosquitto.db"

    @property
    def log(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> Broker:
        """Start (or start again, on the same port and data) and wait until it accepts connections."""
        binary = find_mosquitto()
        assert binary, "mosquitto is not installed (scripts/ensure-mosquitto.sh)"
        self.conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    f"persistence_location {self.workdir}/",
                    f"log_dest file {self.log}",
                    *production_settings(),
                ]
            )
            + "\n"
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        assert wait_for_port(self.port, 10), f"mosquitto did not listen on {self.port}:\n{self.log_text()}"
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop with a signal (SIGKILL: a crash, no final save) and wait for the process to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(20)

    def restart(self, sig: signal.Signals, down_s: float) -> None:
        """Stop with sig, stay down down_s seconds, start again."""
        self.stop(sig)
        time.sleep(down_s)  # the outage itself, not a wait for a condition
        self.start()

    def wait_saved_after(self, t: float, timeout: float = 30.0) -> None:
        """Wait until the broker wrote its persistence file after wall time t (its snapshot has our sessions)."""
        deadline = time.monotonic() + timeout
        while not (self.db.exists() and self.db.stat().st_mtime > t):
            assert time.monotonic() < deadline, f"no snapshot after {t} within {timeout} s"
            time.sleep(0.2)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""
