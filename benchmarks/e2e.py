"""Benchmark: end to end through the real services, from MQTT publish to ticket, at increasing offered rates.

For each path (``embedded``: ``citywatch ingest --mode embedded``; ``stack-1`` / ``stack-2``:
``citywatch ingest --mode stack`` -> Kafka -> one or two faust workers) and each offered rate:
1. a scaled city (``citywatch city scale``, default 1,000 trucks) and its scenario's messages, made
   once, with event times ending two minutes ago;
2. fresh processes with topics, consumer group, MQTT client ids and an SQLite ticket database of
   the run's own, on the Mosquitto and Kafka of ``scripts/services.sh``;
3. ``--publishers`` processes publish the messages at QoS 1 (``--client raw``: ``benchmarks.mqtt_load``,
   packets encoded before the clock starts; ``paho``: the simulator's publisher), sharded
   by device so each device's messages stay in order, paced to the offered rate (``max``: as fast
   as the broker acknowledges); the time each planted violation's opening message was sent is kept;
4. the clock stops when the pipeline has consumed every message (embedded: its committed event
   count; stack: the workers committed every source record) and every planted case is in the
   ticket database. Latency is publish -> case first seen (the database is polled every 0.1 s).
Writes ``benchmarks/results/e2e.json`` (or ``--out``) and a PNG chart beside it::

    .venv/bin/python -m benchmarks.e2e --trucks 1000 --duration-s 600 --rates 1000,2000,4000,max
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy

from benchmarks import mqtt_load
from benchmarks.recovery import delete_topics, kafka_bootstrap
from benchmarks.services import cpu_seconds, services_env
from citywatch.broker import free_port
from citywatch.city import load_city
from devices.catalog import EVENT_STREAMS
from devices.sim.generator import device_kinds, generate, topic_of
from devices.sim.publisher import MqttPublisher, PublisherConfig
from devices.sim.scale import write_scaled_city
from devices.sim.scenario import load_scenario
from streams.offsets import committed, end_offsets

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "e2e.json"
BIN = Path(sys.executable).parent
PARTITIONS = 4
POLL_S = 0.1


@dataclass
class Traffic:
    """The scaled city's messages in publish order, and the planted cases with their opening messages."""

    city_dir: Path
    messages: list[tuple[str, bytes, str, int]]  # topic, payload, device, event time
    expected: list[tuple[str, str]]  # (rule, subject)
    planted_devices: frozenset[str]
    trucks: int
    facilities: int


def make_traffic(trucks: int, duration_s: int, seed: int, tmp: Path) -> Traffic:
    """Scale the demo city and generate its scenario, ending two minutes ago (ingest refuses the future)."""
    made = write_scaled_city(REPO / "cities" / "demo", tmp / "scaled", trucks, seed=seed, duration_s=duration_s)
    city = load_city(made.city_dir)
    scenario = load_scenario(made.scenario, city)
    start_ms = int(time.time() * 1000) - duration_s * 1000 - 120_000
    kinds = device_kinds(city)
    messages = [
        (topic_of(m, kinds), m.model_dump_json().encode(), m.device_id, m.ts_ms)
        for m in generate(city, scenario, seed, start_ms)
    ]
    expected = sorted((e.rule, e.subject) for e in scenario.expected)
    return Traffic(made.city_dir, messages, expected, frozenset(s for _, s in expected), trucks, made.facilities)


# --- the load generator -------------------------------------------------------------------------------------


def _publish_shard(args: tuple[int, int, list[tuple[str, bytes, str, int]], float | None, frozenset[str], str]) -> Any:
    """Publish one shard (a child process): paced, QoS 1, every ack awaited; return when each planted device's
    message of each event time was sent, the seconds it took, how many went unacknowledged, and its CPU."""
    port, index, messages, rate, planted, client = args
    client_id = f"bench-pub-{index}-{uuid.uuid4().hex[:6]}"
    if client == "raw":
        packets = mqtt_load.encode([(topic, payload) for topic, payload, _, _ in messages])  # before the clock
        cpu0 = time.process_time()
        sent = asyncio.run(mqtt_load.send("127.0.0.1", port, client_id, packets, rate))
        wall = time.time() - time.monotonic()
        sent_at = {}
        for (_, _, device, ts_ms), at in zip(messages, sent.sent_at, strict=True):
            if device in planted:
                sent_at.setdefault(f"{device}|{ts_ms}", wall + at)
        return sent_at, sent.seconds, 0, time.process_time() - cpu0
    cpu0 = time.process_time()
    cfg = PublisherConfig(port=port, client_id=client_id, max_inflight=1000, max_pending=20_000)
    sent_at = {}
    with MqttPublisher(cfg) as publisher:
        began = time.monotonic()
        wall0 = time.time() - began
        for n, (topic, payload, device, ts_ms) in enumerate(messages):
            if rate is not None and n % 50 == 0:
                time.sleep(max(0.0, began + n / rate - time.monotonic()))
            publisher.publish(topic, payload)
            if device in planted:
                sent_at.setdefault(f"{device}|{ts_ms}", wall0 + time.monotonic())
        unacked = publisher.drain(300)
    return sent_at, time.monotonic() - began, unacked, time.process_time() - cpu0


def publish_all(
    traffic: Traffic, port: int, rate: float | None, publishers: int, client: str = "raw"
) -> dict[str, Any]:
    """Publish every message from ``publishers`` processes (by device), in total at ``rate`` msg/s (None: max)."""
    shards: list[list[tuple[str, bytes, str, int]]] = [[] for _ in range(publishers)]
    for message in traffic.messages:
        shards[zlib.crc32(message[2].encode()) % publishers].append(message)
    share = None if rate is None else rate / publishers
    args = [(port, i, shard, share, traffic.planted_devices, client) for i, shard in enumerate(shards)]
    with mp.get_context("fork").Pool(publishers) as pool:
        results = pool.map(_publish_shard, args)
    sent_at: dict[str, float] = {}
    for part, *_ in results:
        sent_at.update(part)
    seconds = max(r[1] for r in results)
    return {
        "sent_at": sent_at,
        "publish_s": seconds,
        "unacked": sum(r[2] for r in results),
        "generator_rate": round(len(traffic.messages) / seconds),
        "generator_cpu_s": round(sum(r[3] for r in results), 1),
    }


# --- the pipeline under test --------------------------------------------------------------------------------


@dataclass
class Proc:
    """A process of the pipeline, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    peak_rss_mib: float = 0.0

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def sample(self) -> None:
        """Keep the peak resident memory seen."""
        try:
            status = Path(f"/proc/{self.popen.pid}/status").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                self.peak_rss_mib = max(self.peak_rss_mib, int(line.split()[1]) / 1024)

    def cpu_s(self) -> float:
        return cpu_seconds(self.popen.pid)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no {text!r}:\n{self.text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def start(name: str, args: list[str], env: dict[str, str], tmp: Path) -> Proc:
    """Start a pipeline process from the repo root."""
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(args, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Proc(name, popen, log)


@dataclass
class Run:
    """One (path, rate) run: its environment, processes and ticket database."""

    path: str
    tmp: Path
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return Path(self.env["CITYWATCH_TICKET_DB"])

    def cases(self) -> dict[tuple[str, str], int]:
        """Return the (rule, subject) tickets in the database and when each opened (event time)."""
        if not self.db.exists():
            return {}
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as conn:
                rows = conn.execute(
                    "select rule, subject, min(opened_ms) from tickets group by rule, subject"
                ).fetchall()
        except sqlite3.Error:
            return {}
        return {(r, s): int(t) for r, s, t in rows}

    def embedded_events(self) -> int:
        """Return how many events the embedded runner committed (its stats state)."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=1) as conn:
                row = conn.execute("select state from rule_state where scope='runner' and key='stats'").fetchone()
        except sqlite3.Error:
            return 0
        return int(json.loads(row[0])["events"]) if row else 0

    def stack_consumed(self) -> bool:
        """Tell whether the workers committed every record of the source topics."""
        topics = [self.env["CITYWATCH_TOPIC_PREFIX"] + s for s in EVENT_STREAMS]
        group = self.env["CITYWATCH_FAUST_APP_ID"]

        async def check() -> bool:
            ends, done = (
                await end_offsets(self.env["CITYWATCH_KAFKA_BOOTSTRAP"], topics),
                await committed(self.env["CITYWATCH_KAFKA_BOOTSTRAP"], group),
            )
            return all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0)

        return asyncio.run(check())


def service_cpu_s() -> dict[str, float]:
    """Return the CPU seconds the shared services (scripts/services.sh) have used so far."""
    out = {}
    for name in ("mosquitto", "kafka"):
        pid_file = REPO / ".services" / name / f"{name}.pid"
        try:
            out[name] = cpu_seconds(pid_file.read_text().strip())
        except OSError:
            continue
    return out


def run_env(path: str, traffic: Traffic, tmp: Path, mqtt_port: int, bootstrap: str) -> dict[str, str]:
    """Return the environment of one run: its own topics, group, client ids and ticket database."""
    token = uuid.uuid4().hex[:8]
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("CITYWATCH_")}
    return {
        **inherited,
        "PYTHONUNBUFFERED": "1",
        "CITYWATCH_MQTT_HOST": "127.0.0.1",
        "CITYWATCH_MQTT_PORT": str(mqtt_port),
        "CITYWATCH_MQTT_SESSION_EXPIRY_S": "0",  # leave no queue behind on the shared broker
        "CITYWATCH_INGEST_INSTANCE": f"bench-{token}",
        "CITYWATCH_KAFKA_BOOTSTRAP": bootstrap,
        "CITYWATCH_KAFKA_PARTITIONS": str(PARTITIONS),
        "CITYWATCH_TOPIC_PREFIX": f"bench-e2e-{token}-",
        "CITYWATCH_FAUST_APP_ID": f"cw-bench-e2e-{token}",
        "CITYWATCH_FAUST_DATA_DIR": str(tmp / "faust"),
        "CITYWATCH_CITY_DIR": str(traffic.city_dir),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
    }


def start_pipeline(run: Run, workers: int) -> None:
    """Start the path's processes and wait until each is ready (workers: /healthz 200 on every one)."""
    if run.path == "embedded":
        ingest = start("ingest", [str(BIN / "citywatch"), "ingest", "--mode", "embedded"], run.env, run.tmp)
        run.procs.append(ingest)
        ingest.wait_for("ingest.started", 120)
        return
    ports = []
    for i in range(workers):
        ports.append(free_port())
        env = {**run.env, "CITYWATCH_FAUST_WEB_PORT": str(ports[-1])}
        args = [str(BIN / "citywatch"), "--log-level", "WARNING", "worker"]
        run.procs.append(start(f"worker-{i}", args, env, run.tmp))
    wait_until(lambda: all(_healthy(p) for p in ports), 180, run.procs, "the workers' /healthz")
    ingest = start("ingest", [str(BIN / "citywatch"), "ingest", "--mode", "stack"], run.env, run.tmp)
    run.procs.append(ingest)
    ingest.wait_for("ingest.started", 120)


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], timeout: float, procs: list[Proc], what: str) -> None:
    """Wait for a condition, sampling the processes' memory; fail if one exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        for proc in procs:
            proc.sample()
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited {proc.popen.returncode}:\n{proc.text()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} in {timeout} s")
        time.sleep(POLL_S)


# --- one run and the whole benchmark ------------------------------------------------------------------------


def measure(
    path: str,
    rate: float | None,
    traffic: Traffic,
    publishers: int,
    timeout: float,
    client: str = "raw",
    settings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run one path at one offered rate (the pipeline's processes with extra ``settings``); return its figures."""
    workers = int(path.split("-")[1]) if path.startswith("stack-") else 0
    bootstrap = kafka_bootstrap()
    mqtt_port = int(services_env()["CITYWATCH_MQTT_PORT"])
    with tempfile.TemporaryDirectory(prefix="cw-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        run = Run(path, tmp, run_env(path, traffic, tmp, mqtt_port, bootstrap) | dict(settings or {}))
        try:
            start_pipeline(run, workers)
            services_before = service_cpu_s()
            cpu_before = {p.name: p.cpu_s() for p in run.procs}
            began = time.time()
            first_seen: dict[tuple[str, str], float] = {}
            published = _Background(lambda: publish_all(traffic, mqtt_port, rate, publishers, client))
            total = len(traffic.messages)

            def done() -> bool:
                now = time.time()
                for key in run.cases():
                    first_seen.setdefault(key, now)
                if not published.ready() or not set(traffic.expected) <= first_seen.keys():
                    return False
                return run.embedded_events() >= total if path == "embedded" else run.stack_consumed()

            wait_until(done, timeout, run.procs, "end of the run")
            elapsed = time.time() - began
            pub = published.get()
            services_used = {k: v - services_before.get(k, 0.0) for k, v in service_cpu_s().items()}
            cpu_used = {p.name: p.cpu_s() - cpu_before[p.name] for p in run.procs}
            cpu_used |= services_used | {"publishers": pub["generator_cpu_s"]}
            cases = run.cases()
            figures = {
                "path": path,
                "offered_rate": rate or "max",
                "messages": total,
                "achieved_rate": round(total / elapsed),
                "elapsed_s": round(elapsed, 1),
                "generator_rate": pub["generator_rate"],
                "publish_s": round(pub["publish_s"], 1),
                "unacked": pub["unacked"],
                **latency(traffic, cases, first_seen, pub["sent_at"]),
                "missed_cases": sorted(f"{r}:{s}" for r, s in set(traffic.expected) - cases.keys()),
                "extra_cases": sorted(f"{r}:{s}" for r, s in cases.keys() - set(traffic.expected)),
                "cpu_us_per_message": {k: round(v / total * 1e6) for k, v in cpu_used.items()},
                "processes": {
                    p.name: {"peak_rss_mib": round(p.peak_rss_mib), "cpu_s": round(p.cpu_s(), 1)} for p in run.procs
                },
            }
        finally:
            for proc in reversed(run.procs):
                proc.stop()
            logs = REPO / "test-artifacts" / "e2e-logs" / f"{path}-{rate or 'max'}"  # git-ignored, kept for reading
            logs.mkdir(parents=True, exist_ok=True)
            for proc in run.procs:
                shutil.copy(proc.log, logs / proc.log.name)
            if path != "embedded":
                asyncio.run(
                    delete_topics(bootstrap, (run.env["CITYWATCH_TOPIC_PREFIX"], run.env["CITYWATCH_FAUST_APP_ID"]))
                )
    return figures


class _Background:
    """A call run in a thread, its result kept."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._result: list[Any] = []
        self._error: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(call,), daemon=True)
        self._thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self._result.append(call())
        except BaseException as exc:  # re-raised by get()
            self._error.append(exc)

    def ready(self) -> bool:
        if self._error:
            raise self._error[0]
        return bool(self._result)

    def get(self) -> Any:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._result[0]


def latency(
    traffic: Traffic,
    cases: dict[tuple[str, str], int],
    first_seen: dict[tuple[str, str], float],
    sent_at: dict[str, float],
) -> dict[str, Any]:
    """Return publish -> case latency percentiles over the planted cases (the opening message's send time)."""
    samples = []
    for key in traffic.expected:
        sent = sent_at.get(f"{key[1]}|{cases.get(key, -1)}")
        if sent is not None and key in first_seen:
            samples.append(max(0.0, first_seen[key] - sent))
    if not samples:
        return {"latency_n": 0}
    p50, p95, p99 = (float(x) for x in numpy.percentile(samples, [50, 95, 99]))
    return {"latency_n": len(samples), "p50_s": round(p50, 2), "p95_s": round(p95, 2), "p99_s": round(p99, 2)}


def chart(results: dict[str, Any], png: Path) -> None:
    """Draw achieved rate and p50 / p99 latency against offered rate, one line per path (``max`` last)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    offered = list(dict.fromkeys(str(r["offered_rate"]) for r in results["runs"]))  # in run order, "max" last
    labels = [o if o == "max" else f"{float(o):,.0f}" for o in offered]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for path in results["paths"]:
        runs = [r for r in results["runs"] if r["path"] == path]
        x = [offered.index(str(r["offered_rate"])) for r in runs]
        (line,) = top.plot(x, [r["achieved_rate"] for r in runs], marker="o", label=path)
        bottom.plot(
            x, [r.get("p99_s", float("nan")) for r in runs], marker="o", color=line.get_color(), label=f"{path} p99"
        )
        bottom.plot(x, [r.get("p50_s", float("nan")) for r in runs], marker=".", linestyle=":", color=line.get_color())
    top.set_ylabel("achieved msg/s, end to end")
    bottom.set_ylabel("publish -> case, s (p99 solid, p50 dotted)")
    bottom.set_yscale("log")
    bottom.set_xticks(range(len(offered)), labels)
    bottom.set_xlabel("offered msg/s (max: as fast as the broker acknowledges)")
    top.set_title(
        f"citywatch end to end: {results['trucks']:,} trucks, {results['messages']:,} messages, {results['cores']} cores"
    )
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)


def table(results: dict[str, Any]) -> str:
    """Return the runs as a text table: rates, latency, cases, peak memory and CPU per message of each process."""
    lines = [
        f"{'path':<9} {'offered':>8} {'achieved':>8} {'gen':>7} {'p50 s':>6} {'p99 s':>6} {'missed':>6} {'extra':>5}"
        "  peak RSS MiB; CPU us/msg"
    ]
    for r in results["runs"]:
        rss = " ".join(f"{n}={p['peak_rss_mib']}" for n, p in r["processes"].items())
        cpu = " ".join(f"{n}={us}" for n, us in r.get("cpu_us_per_message", {}).items())
        lines.append(
            f"{r['path']:<9} {r['offered_rate']!s:>8} {r['achieved_rate']:>8} {r['generator_rate']:>7} "
            f"{r.get('p50_s', '-')!s:>6} {r.get('p99_s', '-')!s:>6} {len(r['missed_cases']):>6} "
            f"{len(r['extra_cases']):>5}  {rss}; {cpu}"
        )
    return "\n".join(lines)


def main() -> None:
    """Run every path at every rate; print a table, write the JSON and the chart."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trucks", type=int, default=1000)
    parser.add_argument("--duration-s", type=int, default=900, help="sim seconds of traffic per run")
    parser.add_argument("--rates", default="1000,2000,4000,max", help="offered msg/s, comma-separated; max: unpaced")
    parser.add_argument("--paths", default="embedded,stack-1,stack-2")
    parser.add_argument(
        "--publishers",
        type=int,
        default=1,
        help="load generator processes (one raw connection keeps the fleet's time order and does ~100,000 msg/s; "
        "at full speed connections drift apart in event time and the lagging devices look silent)",
    )
    parser.add_argument(
        "--client",
        choices=["raw", "paho"],
        default="raw",
        help="raw: benchmarks.mqtt_load (lean); paho: the simulator's",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="CITYWATCH_X=VALUE",
        help="a setting for the pipeline's processes (repeatable), e.g. CITYWATCH_RULES_BATCH_SIZE=2000",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="longest run (s)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    rates = [None if r == "max" else float(r) for r in args.rates.split(",")]
    settings = dict(pair.split("=", 1) for pair in args.set)
    paths = args.paths.split(",")
    with tempfile.TemporaryDirectory(prefix="cw-e2e-city-") as tmp:
        traffic = make_traffic(args.trucks, args.duration_s, args.seed, Path(tmp))
        results: dict[str, Any] = {
            "trucks": args.trucks,
            "facilities": traffic.facilities,
            "messages": len(traffic.messages),
            "planted_cases": len(traffic.expected),
            "publishers": args.publishers,
            "load_client": args.client,
            "partitions": PARTITIONS,
            "cores": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d"),
            "paths": paths,
            "settings": settings,
            "runs": [],
        }
        for path in paths:
            for rate in rates:
                figures = measure(path, rate, traffic, args.publishers, args.timeout, args.client, settings)
                results["runs"].append(figures)
                print(table({"runs": [figures]}).splitlines()[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    chart(results, args.out.with_suffix(".png"))
    print(table(results))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
