"""A Kafka broker of the test's own (KRaft, one node), from the jars ``scripts/services.sh`` fetched, so a
test can take it down without disturbing the shared one."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer

from citywatch.broker import free_port
from tests.conftest import SERVICES_ENV

LIBS = SERVICES_ENV.parent / "kafka" / "libs"


@dataclass
class PrivateKafka:
    """One Kafka node on free loopback ports, its data under workdir."""

    workdir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, *args: str) -> list[str]:
        log4j = self.workdir / "log4j.properties"
        return [
            "java",
            "-Xms128m",
            "-Xmx384m",
            f"-Dlog4j.configuration=file:{log4j}",
            f"-Dkafka.logs.dir={self.workdir}",
            "-cp",
            f"{LIBS}/*",
            *args,
        ]

    def _configure(self) -> Path:
        conf = self.workdir / "server.properties"
        conf.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "inter.broker.listener.name=PLAINTEXT",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.workdir / 'data'}",
                    "num.partitions=4",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "offsets.topic.num.partitions=4",
                ]
            )
            + "\n"
        )
        (self.workdir / "log4j.properties").write_text(
            "log4j.rootLogger=WARN, file\nlog4j.appender.file=org.apache.log4j.FileAppender\n"
            f"log4j.appender.file.File={self.workdir / 'server.log'}\n"
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
        )
        return conf

    def start(self, timeout: float = 90.0) -> PrivateKafka:
        """Format the storage on first start, start the node, and wait for a real produce round trip."""
        assert LIBS.exists(), f"no Kafka jars in {LIBS}: run scripts/services.sh up first"
        conf = self._configure()
        if not (self.workdir / "data" / "meta.properties").exists():
            cluster = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode().lstrip("-")[:22].ljust(22, "A")
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(conf)),
                check=True,
                capture_output=True,
            )
        with (self.workdir / "kafka.out").open("ab") as out:
            self.proc = subprocess.Popen(self._java("kafka.Kafka", str(conf)), stdout=out, stderr=subprocess.STDOUT)
        asyncio.run(self._wait_ready(timeout))
        return self

    async def _wait_ready(self, timeout: float) -> None:
        deadline, last = time.monotonic() + timeout, "no attempt"
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"kafka exited: {self.log_tail()}"
            producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            try:
                await producer.start()
                await producer.send_and_wait("_ready", b"ping")
                return
            except Exception as exc:
                last = repr(exc)
            finally:
                await producer.stop()
            await asyncio.sleep(0.5)
        raise AssertionError(f"private Kafka not ready in {timeout} s: {last}\n{self.log_tail()}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the node with a signal and wait for it to end."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log_tail(self) -> str:
        log = self.workdir / "server.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""
