"""Benchmark: how long a faust worker takes to restore its tables after ``kill -9`` and be Ready again.

On the real Kafka (``.services/env``), with topics and a consumer group of the run's own:
1. scale the demo city to N muck trucks (``benchmarks.scaled_city``);
2. write a few positions of every truck straight to ``{prefix}positions``, as ``ingest.kafka_sink`` does;
3. start a worker, wait until it committed every record of every stage, ``kill -9`` it, start a
   second one at once (as a supervisor would) and time it: start to ``[^Worker]: Ready``, and the
   phases faust logs (import and city load, group join, changelog read, Ready);
4. read the changelogs once (records, bytes, state bytes per device), delete the run's topics.
Prints one table row and writes every figure to ``test-artifacts/recovery.json``::

    .venv/bin/python -m benchmarks.recovery --trucks 10000 --fixes-per-truck 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks.scaled_city import fleet_positions, scale_city
from benchmarks.services import cpu_seconds, services_env, wait_until
from citywatch.broker import free_port
from devices.catalog import ALERTS, ALERTS_RAW, FACTS
from streams.offsets import committed, end_offsets
from streams.topics import ensure_topics

REPO = Path(__file__).resolve().parent.parent
ARTIFACT = REPO / "test-artifacts" / "recovery.json"
PARTITIONS = 4  # the settings' default
STAGES = ("positions", FACTS, ALERTS_RAW, ALERTS)  # committed in this order
LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")
PHASES = {  # the first log line of each phase (faust 0.15), in order
    "app_loaded_s": r"\[\^Worker\]: Starting\.\.\.",  # imports, city load, Engine: before the first worker line
    "join_requested_s": r"\(Re-\)joining group",
    "group_joined_s": r"Joined group",  # after the killed worker's session expired
    "recovery_started_s": r"Restoring state from changelog topics",
    "changelogs_read_s": r"Done reading from changelog topics",
    "ready_s": r"\[\^Worker\]: Ready",
}
HIGHWATER_ROW = re.compile(r"^\|[^|]*\|\s*(\d+)\s*\|\s*(-?\d+)\s*\|", re.MULTILINE)


# --- the worker process -------------------------------------------------------------------------------------


@dataclass
class Worker:
    """A faust worker started for the benchmark, its output in a log file."""

    popen: subprocess.Popen[bytes]
    log: Path
    started: float  # wall clock (time.time) at start: faust's log times are wall-clock

    def text(self) -> str:
        """Return what the worker logged so far."""
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float) -> float:
        """Wait until the log matches ``pattern``; return the seconds since start (fail if the worker dies)."""
        regex, deadline = re.compile(pattern), time.monotonic() + timeout
        while not regex.search(self.text()):
            if self.popen.poll() is not None:
                raise RuntimeError(f"worker exited {self.popen.returncode}:\n{self.text()[-4000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {pattern!r} in {timeout} s:\n{self.text()[-4000:]}")
            time.sleep(0.1)
        return time.time() - self.started

    def memory(self) -> dict[str, float]:
        """Return the worker's resident memory now and at its peak (MiB), and the CPU seconds it used."""
        status = Path(f"/proc/{self.popen.pid}/status").read_text()
        kib = {
            k: int(v.split()[0])
            for k, v in (line.split(":", 1) for line in status.splitlines())
            if k in ("VmRSS", "VmHWM")
        }
        cpu_s = cpu_seconds(self.popen.pid)
        return {"rss_mib": kib["VmRSS"] / 1024, "hwm_mib": kib["VmHWM"] / 1024, "cpu_s": cpu_s}

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Send a signal and wait for the exit (SIGKILL after ``timeout``)."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def start_worker(env: dict[str, str], log: Path) -> Worker:
    """Start ``faust -A citywatch.worker worker`` from the repo root with the run's environment."""
    faust = Path(sys.executable).parent / "faust"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [str(faust), "-A", "citywatch.worker", "worker", "-l", "info"],
            cwd=REPO,
            env={**env, "CITYWATCH_FAUST_WEB_PORT": str(free_port())},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Worker(popen, log, time.time())


def phases(text: str, started: float) -> dict[str, float]:
    """Return the seconds from start to the first log line of each phase that was logged."""
    found: dict[str, float] = {}
    for name, pattern in PHASES.items():
        match = re.search(r"^.*" + pattern, text, re.MULTILINE)
        stamp = LOG_TIME.match(match.group(0)) if match else None
        if stamp:
            found[name] = round(datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - started, 2)
    return found


def logged_highwaters(text: str) -> int:
    """Return the records faust said it must read for active recovery (sum of highwater + 1)."""
    start = text.find("Highwater for active changelog partitions")
    block = text[start : text.find("\n[", start + 1)] if start >= 0 else ""
    return sum(int(hw) + 1 for _, hw in HIGHWATER_ROW.findall(block))


# --- Kafka --------------------------------------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send every (key, value) to the topic, batched, and wait for all acknowledgements."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        client_id="citywatch-bench",
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, key=key, value=value) for key, value in records]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@asynccontextmanager
async def admin_client(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    """Yield a started Kafka admin client, closed afterwards."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        yield admin
    finally:
        await admin.close()


async def topics_named(bootstrap: str, starts: tuple[str, ...]) -> list[str]:
    """Return the names of the cluster's topics that start with one of ``starts``."""
    async with admin_client(bootstrap) as admin:
        return sorted(t for t in await admin.list_topics() if t.startswith(starts))


async def caught_up(bootstrap: str, group: str, topics: list[str]) -> bool:
    """Tell whether the group committed every record of the topics."""
    ends, done = await end_offsets(bootstrap, topics), await committed(bootstrap, group)
    return all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0)


async def read_changelog(bootstrap: str, topic: str) -> dict[str, Any]:
    """Read and JSON-decode a changelog once, as a plain restore would: records, bytes, seconds, state size per key."""
    ends = {tp: end for tp, end in (await end_offsets(bootstrap, [topic])).items() if end > 0}
    if not ends:
        return {"records": 0, "bytes": 0, "keys": 0, "state_bytes_per_key": 0, "plain_read_s": 0.0}
    started, records, size, states = time.perf_counter(), 0, 0, dict[bytes, tuple[int, Any]]()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=50_000)).values():
                for r in batch:
                    records, size = records + 1, size + len(r.key or b"") + len(r.value or b"")
                    states[r.key or b""] = (len(r.value or b""), json.loads(r.value or b"null"))
    finally:
        await consumer.stop()
    return {
        "records": records,
        "bytes": size,
        "keys": len(states),
        "state_bytes_per_key": round(sum(n for n, _ in states.values()) / len(states)),
        "plain_read_s": round(time.perf_counter() - started, 1),
    }


async def delete_topics(bootstrap: str, starts: tuple[str, ...]) -> list[str]:
    """Delete the run's topics, so repeated runs do not fill the shared Kafka; return their names."""
    topics = await topics_named(bootstrap, starts)
    async with admin_client(bootstrap) as admin:
        if topics:
            await admin.delete_topics(topics)
    return topics


# --- the run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """One benchmark run: its Kafka, its own topic prefix and consumer group, its temp dir."""

    bootstrap: str
    token: str
    tmp: Path

    @property
    def prefix(self) -> str:
        """Return the run's topic prefix."""
        return f"bench-rec-{self.token}-"

    @property
    def app_id(self) -> str:
        """Return the run's faust app id (its consumer group and the prefix of its changelogs)."""
        return f"cw-bench-rec-{self.token}"

    def env(self) -> dict[str, str]:
        """Return the workers' environment: this run's settings only (no InfluxDB, SQLite tickets)."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("CITYWATCH_")}
        return {
            **inherited,
            "PYTHONUNBUFFERED": "1",
            "CITYWATCH_KAFKA_BOOTSTRAP": self.bootstrap,
            "CITYWATCH_TOPIC_PREFIX": self.prefix,
            "CITYWATCH_FAUST_APP_ID": self.app_id,
            "CITYWATCH_KAFKA_PARTITIONS": str(PARTITIONS),
            "CITYWATCH_CITY_DIR": str(self.tmp / "city"),
            "CITYWATCH_FAUST_DATA_DIR": str(self.tmp / "faust"),
            "CITYWATCH_TICKET_DB": str(self.tmp / "tickets.sqlite"),
        }

    def stage_done(self, stage: str) -> bool:
        """Tell whether the workers committed every record of one stage's topic."""
        return asyncio.run(caught_up(self.bootstrap, self.app_id, [self.prefix + stage]))

    def changelogs(self) -> list[str]:
        """Return the changelog topics of the run's tables."""
        return [t for t in asyncio.run(topics_named(self.bootstrap, (self.app_id,))) if t.endswith("-changelog")]


def kafka_bootstrap() -> str:
    """Return the shared Kafka's address: ``CITYWATCH_KAFKA_BOOTSTRAP``, else the one in ``.services/env``."""
    if address := os.environ.get("CITYWATCH_KAFKA_BOOTSTRAP"):
        return address
    return services_env()["CITYWATCH_KAFKA_BOOTSTRAP"]


def fill(run: Run, trucks: int, fixes: int) -> dict[str, Any]:
    """Scale the city and put every truck's positions on the run's positions topic."""
    t0 = time.perf_counter()
    city = scale_city(REPO / "cities" / "demo", run.tmp / "city", trucks)
    t1 = time.perf_counter()
    end_ms = int(time.time() * 1000) - 60_000
    records = [(p.device_id.encode(), p.model_dump_json().encode()) for p in fleet_positions(city, fixes, end_ms)]
    asyncio.run(ensure_topics(run.bootstrap, run.prefix, PARTITIONS))
    t2 = time.perf_counter()
    asyncio.run(produce(run.bootstrap, run.prefix + "positions", records))
    return {
        "devices": len(city.vehicles),
        "positions": len(records),
        "scale_city_s": round(t1 - t0, 1),
        "produce_s": round(time.perf_counter() - t2, 1),
    }


def settled(run: Run) -> Callable[[], bool]:
    """Return a condition: the run's changelogs got no record since the condition was last asked."""
    seen: list[int] = []

    def check() -> bool:
        seen.append(sum(asyncio.run(end_offsets(run.bootstrap, run.changelogs())).values()))
        return len(seen) > 1 and seen[-1] == seen[-2]

    return check


def first_worker(run: Run, timeout: float) -> dict[str, Any]:
    """Run a worker over every position and every stage, then ``kill -9`` it."""
    worker = start_worker(run.env(), run.tmp / "worker-1.log")
    try:
        figures: dict[str, Any] = {"cold_ready_s": round(worker.wait_for(PHASES["ready_s"], timeout), 1)}
        started = time.monotonic()
        for stage in STAGES:
            wait_until(lambda s=stage: run.stage_done(s), timeout, f"the worker to commit {stage}", interval=1.0)
        wait_until(settled(run), timeout, "the changelogs to stop growing", interval=1.0)
        figures["catch_up_s"] = round(time.monotonic() - started, 1)
        figures.update({f"before_kill_{k}": round(v, 1) for k, v in worker.memory().items()})
    finally:
        worker.stop(signal.SIGKILL)
    return figures


def second_worker(run: Run, timeout: float) -> dict[str, Any]:
    """Start a worker right after the kill; time it until Ready and read what faust logged."""
    worker = start_worker(run.env(), run.tmp / "worker-2.log")
    try:
        ready_s = worker.wait_for(PHASES["ready_s"], timeout)
        memory = worker.memory()
        text = worker.text()
    finally:
        worker.stop()
    found = phases(text, worker.started)
    return {
        "ready_s": round(ready_s, 1),
        "phases_s": found,
        "logged_restore_records": logged_highwaters(text),
        "recovery_s": round(found.get("changelogs_read_s", 0.0) - found.get("recovery_started_s", 0.0), 1),
        "recovery_errors": text.count("Error in recovery"),
        **{k: round(v, 1) for k, v in memory.items()},
    }


def changelog_figures(run: Run) -> dict[str, Any]:
    """Read every changelog of the run once; return per-table and total records and bytes."""
    tables = {t.removeprefix(run.app_id + "-"): asyncio.run(read_changelog(run.bootstrap, t)) for t in run.changelogs()}
    positions = tables.get("state-positions-changelog", {})
    return {
        "changelog_records": sum(t["records"] for t in tables.values()),
        "plain_read_s": round(sum(t["plain_read_s"] for t in tables.values()), 1),
        "changelog_mib": round(sum(t["bytes"] for t in tables.values()) / 2**20, 1),
        "state_bytes_per_device": positions.get("state_bytes_per_key", 0),
        "tables": tables,
    }


def measure(trucks: int, fixes: int, timeout: float) -> dict[str, Any]:
    """Run the whole benchmark on the shared Kafka; delete the run's topics whatever happens."""
    with tempfile.TemporaryDirectory(prefix="cw-recovery-") as tmp:
        run = Run(kafka_bootstrap(), uuid.uuid4().hex[:10], Path(tmp))
        figures: dict[str, Any] = {
            "trucks": trucks,
            "fixes_per_truck": fixes,
            "cores": os.cpu_count(),
            "load_before": os.getloadavg(),
        }
        try:
            figures.update(fill(run, trucks, fixes))
            figures["first_worker"] = first_worker(run, timeout)
            figures["second_worker"] = second_worker(run, timeout)
            figures["load_after"] = os.getloadavg()
            figures.update(changelog_figures(run))
        finally:
            for log in Path(tmp).glob("worker-*.log"):  # kept for reading (test-artifacts/ is git-ignored)
                ARTIFACT.parent.mkdir(exist_ok=True)
                shutil.copy(log, ARTIFACT.parent / f"recovery-{log.name}")
            figures["deleted_topics"] = len(asyncio.run(delete_topics(run.bootstrap, (run.prefix, run.app_id))))
    return figures


def table(f: dict[str, Any]) -> str:
    """Return the main figures as a small text table, and the phases of the restart."""
    second = f["second_worker"]
    head = (
        f"{'trucks':>7} {'fixes/truck':>11} {'positions':>9} {'changelog recs':>14} {'changelog MiB':>13} "
        f"{'B/state':>7} {'recovery s':>10} {'Ready s':>7} {'RSS MiB':>7} {'peak MiB':>8}"
    )
    row = (
        f"{f['trucks']:>7} {f['fixes_per_truck']:>11} {f['positions']:>9} {f['changelog_records']:>14} "
        f"{f['changelog_mib']:>13} {f['state_bytes_per_device']:>7} {second['recovery_s']:>10} "
        f"{second['ready_s']:>7} {second['rss_mib']:>7} {second['hwm_mib']:>8}"
    )
    load = " ".join(f"{x:.2f}" for x in f["load_after"])
    return (
        f"{head}\n{row}\nrestart phases, s from start: {second['phases_s']}\n"
        f"cold start Ready {f['first_worker']['cold_ready_s']} s; the same changelogs read and decoded by a plain "
        f"consumer in {f['plain_read_s']} s; load average after {load} on {f['cores']} cores"
    )


def main() -> None:
    """Run the benchmark, print the table and write the JSON artifact."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trucks", type=int, default=10_000)
    parser.add_argument("--fixes-per-truck", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=1800.0, help="longest wait for any one step (s)")
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # a new topic's first sends are retried (NotLeader...)
    figures = measure(args.trucks, args.fixes_per_truck, args.timeout)
    print(table(figures))
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {ARTIFACT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
