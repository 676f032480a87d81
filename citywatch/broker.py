"""A local MQTT broker for the embedded mode: Mosquitto when installed, else amqtt in-process."""

from __future__ import annotations

import asyncio
import getpass
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MOSQUITTO_PATHS = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
MOSQUITTO_CONF = """\
user {user}
listener {port} 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 100000
log_dest file {log}
"""


class BrokerError(RuntimeError):
    """The local broker could not be started."""


def free_port() -> int:
    """Return a TCP port on loopback that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str | None:
    """Return the path of the mosquitto binary, if installed."""
    for name in MOSQUITTO_PATHS:
        path = shutil.which(name)
        if path:
            return path
    return None


def wait_for_port(port: int, timeout: float) -> bool:
    """Wait until something accepts TCP connections on the loopback port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@dataclass
class LocalBroker:
    """A running broker on 127.0.0.1 and how to stop it."""

    port: int
    engine: str
    _process: subprocess.Popen[bytes] | None = None
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    host: str = "127.0.0.1"

    def stop(self) -> None:
        """Stop the broker."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if self._workdir is not None:
            self._workdir.cleanup()


def start_broker(port: int | None = None, prefer: str = "mosquitto") -> LocalBroker:
    """Start Mosquitto if it is installed (and preferred), else an embedded amqtt broker."""
    port = port or free_port()
    binary = find_mosquitto() if prefer == "mosquitto" else None
    broker = _start_mosquitto(binary, port) if binary else _start_amqtt(port)
    if not wait_for_port(port, timeout=15):
        broker.stop()
        raise BrokerError(f"{broker.engine} did not listen on 127.0.0.1:{port} within 15 s")
    return broker


def _dying_with_us(command: list[str]) -> list[str]:
    """Prefix a command so the child gets SIGTERM when the demo dies, if util-linux setpriv is there."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


def _start_mosquitto(binary: str, port: int) -> LocalBroker:
    workdir = tempfile.TemporaryDirectory(prefix="citywatch-mqtt-")
    conf = Path(workdir.name) / "mosquitto.conf"
    log = Path(workdir.name) / "mosquitto.log"
    conf.write_text(MOSQUITTO_CONF.format(port=port, log=log, user=getpass.getuser()))
    # Its own session: Ctrl-C at the terminal reaches only the demo, which drains what is in flight and
    # then stops the broker (a broker killed by the same Ctrl-C lost those messages). A demo killed
    # outright still takes the broker with it (parent-death signal).
    proc = subprocess.Popen(
        _dying_with_us([binary, "-c", str(conf)]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return LocalBroker(port=port, engine="mosquitto", _process=proc, _workdir=workdir)


def _start_amqtt(port: int) -> LocalBroker:
    try:
        from amqtt.broker import Broker  # imported here: only needed without Mosquitto
    except ImportError as exc:
        raise BrokerError(
            "Mosquitto is not installed and the embedded broker is an extra: install Mosquitto, "
            "or pip install 'citywatch[broker]' (make venv does)"
        ) from exc

    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        broker = Broker(config, loop=loop)
        loop.run_until_complete(broker.start())
        started.set()
        loop.run_forever()
        loop.run_until_complete(broker.shutdown())
        loop.close()

    thread = threading.Thread(target=serve, name="amqtt-broker", daemon=True)
    thread.start()
    if not started.wait(15):
        raise BrokerError("the embedded amqtt broker did not start within 15 s")
    return LocalBroker(port=port, engine="amqtt", _thread=thread, _loop=loop)
