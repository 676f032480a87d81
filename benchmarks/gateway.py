"""Benchmark: the JT/T 808 gateway with thousands of terminals, end to end through the real Mosquitto.

On the real Mosquitto of ``.services/env``:
1. scale the demo city to N muck trucks, each with a JT/T 808 phone number (``benchmarks.scaled_city``);
2. start ``citywatch gateway jt808`` and ``citywatch ingest --mode embedded`` as processes of their own;
3. connect N terminals from ``--procs`` load-generator processes (asyncio; frames encoded before the
   clock starts, so the generator measures the gateway, not itself), register and authenticate each,
   and read the gateway's memory with every terminal connected and idle;
4. every terminal sends ``--fixes`` location reports on its permit route, one at a time, each as soon
   as the previous one was answered (0x8001 comes only after the broker acknowledged the publish);
   time it: reports/s answered, answer latency p50 / p99, the gateway's CPU and peak memory;
5. wait until the embedded pipeline has processed every message the gateway published, and report
   its rate (the rules stage, issue #13's subject, is measured here only as the end of the chain).
Prints a table and writes every figure to ``test-artifacts/gateway.json``::

    .venv/bin/python -m benchmarks.gateway --terminals 10000 --fixes 10 --procs 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.scaled_city import fleet_positions, scale_city
from benchmarks.services import cpu_seconds, services_env, wait_until
from citywatch.broker import free_port, wait_for_port
from devices.contracts import VehiclePosition
from devices.sim.jt808_fleet import location_report
from devices.terminals import SignalBit, TerminalModel
from jt808 import messages as m
from jt808.frame import FrameReader, Header, pack, unpack

REPO = Path(__file__).resolve().parent.parent
ARTIFACT = REPO / "test-artifacts" / "gateway.json"
PROFILE_DIR = REPO / "test-artifacts"
SECRET = "bench-secret"  # the benchmark's own gateway, on loopback
CONNECT_CHUNK = 500
MODEL = TerminalModel(model="bench", cover_closed=SignalBit(tlv=0xE1, bit=0))  # the demo muck terminal's 密闭 bit


@dataclass(frozen=True)
class Plan:
    """One load generator's terminals: (phone, its frames) and where the gateway listens."""

    port: int
    terminals: list[tuple[str, list[bytes]]]
    interval_s: float = 0.0  # 0: each report as soon as the previous one is answered; else one per interval


def location_frames(phone: str, fixes: list[VehiclePosition]) -> list[bytes]:
    """Encode one terminal's reports as 2019 frames (serials 3.., after register and authenticate)."""
    return [
        pack(Header(m.LOCATION, phone, serial, 1), location_report(p, MODEL).encode(True))
        for serial, p in enumerate(fixes, start=3)
    ]


class _Answers:
    """The platform's frames on one connection, one message at a time."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader, self.frames, self.queue = reader, FrameReader(), deque[bytes]()

    async def next(self) -> object:
        """Return the next platform message, decoded."""
        while not self.queue:
            data = await self.reader.read(4096)
            if not data:
                raise ConnectionError("the gateway closed the connection")
            self.queue.extend(self.frames.feed(data))
        header, body = unpack(self.queue.popleft())
        return m.decode_body(header, body)


async def _terminal(
    port: int,
    phone: str,
    frames: list[bytes],
    go: Any,
    latencies: list[float],
    counts: dict[str, int],
    interval_s: float = 0.0,
) -> tuple[asyncio.StreamWriter, asyncio.Task[None]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    incoming = _Answers(reader)
    register = m.Register(42, 100, "CWBEN", "BENCH-1", "T000001", 2, "")
    writer.write(pack(Header(m.REGISTER, phone, 1, 1), register.encode(True)))
    answer = await incoming.next()
    assert isinstance(answer, m.RegisterResponse) and answer.result == 0, answer
    writer.write(
        pack(
            Header(m.AUTHENTICATE, phone, 2, 1), m.Authenticate(answer.auth_code, "860000000000001", "1.0").encode(True)
        )
    )
    answer = await incoming.next()
    assert isinstance(answer, m.PlatformResponse) and answer.result == 0, answer
    counts["connected"] += 1

    async def report() -> None:
        await go.wait()
        start = time.perf_counter() + random.uniform(0.0, interval_s)  # paced terminals spread over the interval
        for k, frame in enumerate(frames):
            if interval_s:
                await asyncio.sleep(max(0.0, start + k * interval_s - time.perf_counter()))
            sent = time.perf_counter()
            writer.write(frame)
            answer = await incoming.next()
            if isinstance(answer, m.PlatformResponse) and answer.result == 0:
                counts["answered"] += 1
                latencies.append(time.perf_counter() - sent)
            else:
                counts["refused"] += 1

    return writer, asyncio.create_task(report())


async def _until(event: Any) -> None:
    """Wait for a multiprocessing event without blocking the loop."""
    while not event.is_set():
        await asyncio.sleep(0.05)


async def _generate(plan: Plan, connected: Any, mp_go: Any, done: Any, out: Any) -> None:
    counts = {"connected": 0, "answered": 0, "refused": 0}
    go = asyncio.Event()
    latencies: list[float] = []
    tasks, writers = [], []
    for i in range(0, len(plan.terminals), CONNECT_CHUNK):
        chunk = plan.terminals[i : i + CONNECT_CHUNK]
        opened = await asyncio.gather(
            *(_terminal(plan.port, ph, fr, go, latencies, counts, plan.interval_s) for ph, fr in chunk)
        )
        writers += [w for w, _ in opened]
        tasks += [t for _, t in opened]
        with connected.get_lock():
            connected.value += len(chunk)
    await _until(mp_go)
    go.set()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    out.put(
        {
            "answered": counts["answered"],
            "refused": counts["refused"],
            "wall_s": time.perf_counter() - started,
            "latencies": latencies,
        }
    )
    await _until(done)
    for w in writers:
        w.close()


def generator(plan: Plan, connected: Any, go: Any, done: Any, out: Any) -> None:
    """Run one load-generator process."""
    asyncio.run(_generate(plan, connected, go, done, out))


def proc_figures(pid: int) -> tuple[float, float]:
    """Return a process's resident memory (MiB) and CPU seconds so far."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
    return rss_kib / 1024, cpu_seconds(pid)


def start(name: str, args: list[str], env: dict[str, str], tmp: Path) -> subprocess.Popen[bytes]:
    """Start a citywatch process with its log in tmp."""
    profile = (
        [sys.executable, "-m", "cProfile", "-o", str(PROFILE_DIR / f"{name}.prof")]
        if name in os.environ.get("CW_BENCH_PROFILE", "").split(",")
        else []
    )  # e.g. CW_BENCH_PROFILE=gateway
    with (tmp / f"{name}.log").open("wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [*profile, str(Path(sys.executable).parent / "citywatch"), "--log-level", "INFO", *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )


def processed(db: Path) -> int:
    """Return how many events the embedded runner committed (0 before its first commit)."""
    import sqlite3
    from contextlib import closing

    if not db.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            rows = list(conn.execute("SELECT state FROM rule_state WHERE scope = 'runner' AND key = 'stats'"))
    except sqlite3.OperationalError:
        return 0
    return int(json.loads(rows[0][0])["events"]) if rows else 0


def run(terminals: int, fixes: int, procs: int, tmp: Path, pipeline: bool = True, rate: float = 0.0) -> dict[str, Any]:
    """Run the benchmark; return its figures. ``rate``: reports/s offered by the whole fleet (0: as fast as answered)."""
    city = scale_city(REPO / "cities" / "demo", tmp / "city", terminals)
    trucks = [v for v in city.vehicles if v.vehicle_id in city.permit_by_vehicle]
    end_ms = (int(time.time()) - 120) * 1000
    by_device: dict[str, list[VehiclePosition]] = {}
    for p in fleet_positions(city, fixes, end_ms):
        by_device.setdefault(p.device_id, []).append(p)
    t0 = time.perf_counter()
    plans = [
        [
            (v.jt808_phone or "", location_frames(v.jt808_phone or "", by_device[v.terminal_id]))
            for v in trucks[i::procs]
        ]
        for i in range(procs)
    ]
    encode_s = time.perf_counter() - t0
    svc = services_env()
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CITYWATCH_")},
        "PYTHONUNBUFFERED": "1",
        "CITYWATCH_MQTT_HOST": svc.get("CITYWATCH_MQTT_HOST", "127.0.0.1"),
        "CITYWATCH_MQTT_PORT": svc["CITYWATCH_MQTT_PORT"],
        "CITYWATCH_CITY_DIR": str(tmp / "city"),
        "CITYWATCH_TICKET_DB": str(tmp / "tickets.sqlite"),
        "CITYWATCH_DEADLETTER_PATH": str(tmp / "dead.jsonl"),
        "CITYWATCH_GATEWAY_AUTH_SECRET": SECRET,
        "CITYWATCH_GATEWAY_HOST": "127.0.0.1",
        "CITYWATCH_GATEWAY_DEADLETTER_PATH": str(tmp / "gw-dead.jsonl"),
        "CITYWATCH_MQTT_SHARE_GROUP": f"bench-{port}",
        "CITYWATCH_MQTT_SESSION_EXPIRY_S": "0",
        "CITYWATCH_INGEST_QUEUE_SIZE": "50000",
        "CITYWATCH_GATEWAY_HEALTH_PORT": str(free_port()),
    }
    ingest = (
        start("ingest", ["ingest", "--mode", "embedded"], {**env, "CITYWATCH_MQTT_CLIENT_ID": f"bi-{port}"}, tmp)
        if pipeline
        else None
    )
    gateway = start(
        "gateway", ["gateway", "jt808", "--port", str(port)], {**env, "CITYWATCH_MQTT_CLIENT_ID": f"bg-{port}"}, tmp
    )
    ctx = mp.get_context("spawn")
    connected, go, done, out = ctx.Value("i", 0), ctx.Event(), ctx.Event(), ctx.Queue()
    workers = []
    try:
        if not wait_for_port(port, 60):
            raise TimeoutError(f"the gateway did not listen on {port} within 60 s")
        if (
            ingest is not None
        ):  # subscribed before any terminal says it is online (a shared subscription gets no retained)
            wait_until(
                lambda: "ingest.started" in (tmp / "ingest.log").read_text(errors="replace"), 120, "ingest subscribed"
            )
        time.sleep(1.0)
        rss_empty, _ = proc_figures(gateway.pid)
        t_connect = time.perf_counter()
        workers = [
            ctx.Process(
                target=generator, args=(Plan(port, plan, len(trucks) / rate if rate else 0.0), connected, go, done, out)
            )
            for plan in plans
        ]
        for w in workers:
            w.start()
        wait_until(lambda: connected.value >= len(trucks), 600, f"{len(trucks)} terminals connected")
        connect_s = time.perf_counter() - t_connect
        time.sleep(2.0)
        rss_idle, cpu_before = proc_figures(gateway.pid)
        base = processed(tmp / "tickets.sqlite") if pipeline else 0
        t_load = time.perf_counter()
        go.set()
        results = [out.get(timeout=1800) for _ in workers]
        load_s = time.perf_counter() - t_load
        rss_loaded, cpu_after = proc_figures(gateway.pid)
        answered = sum(r["answered"] for r in results)
        lat = np.array([x for r in results for x in r["latencies"]]) * 1000
        figures: dict[str, Any] = {
            "terminals": len(trucks),
            "fixes_per_terminal": fixes,
            "generator_processes": procs,
            "offered_reports_per_s": rate or "as fast as answered",
            "encode_s": round(encode_s, 1),
            "connect_and_login_s": round(connect_s, 1),
            "gateway_rss_empty_mib": round(rss_empty, 1),
            "gateway_rss_idle_mib": round(rss_idle, 1),
            "kib_per_idle_connection": round((rss_idle - rss_empty) * 1024 / len(trucks), 1),
            "reports_answered": answered,
            "reports_refused": sum(r["refused"] for r in results),
            "reports_per_s": round(answered / load_s),
            "answer_p50_ms": round(float(np.percentile(lat, 50)), 1),
            "answer_p99_ms": round(float(np.percentile(lat, 99)), 1),
            "gateway_rss_loaded_mib": round(rss_loaded, 1),
            "gateway_cpu_s_per_1000_reports": round((cpu_after - cpu_before) / answered * 1000, 3),
        }
        if pipeline:
            expected = base + answered
            wait_until(lambda: processed(tmp / "tickets.sqlite") >= expected, 1800, "pipeline caught up")
            pipeline_s = time.perf_counter() - t_load
            figures |= {
                "pipeline_events": processed(tmp / "tickets.sqlite") - base,
                "pipeline_caught_up_s": round(pipeline_s, 1),
                "pipeline_msgs_per_s": round(answered / pipeline_s),
            }
        return figures
    finally:
        done.set()
        for w in workers:
            w.join(timeout=30)
        for proc in (gateway, ingest):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        clear_statuses(svc, [v.terminal_id for v in trucks])  # after the gateway said each terminal offline


def clear_statuses(svc: dict[str, str], devices: list[str]) -> None:
    """Delete the retained online / offline statuses the run left on the shared broker."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-clear-{os.getpid()}")
    client.connect(svc.get("CITYWATCH_MQTT_HOST", "127.0.0.1"), int(svc["CITYWATCH_MQTT_PORT"]))
    client.loop_start()
    infos = [client.publish(f"citywatch/v1/vehicle/{d}/status", b"", qos=1, retain=True) for d in devices]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def main() -> None:
    """Run from the command line; print a table and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10_000)
    parser.add_argument("--fixes", type=int, default=10, help="location reports per terminal")
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes")
    parser.add_argument("--no-pipeline", action="store_true", help="gateway and broker only")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="reports/s the fleet offers (default: as fast as "
        "answered); e.g. half the measured maximum, for the latency at half load",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="cw-bench-gw-"))
    try:
        figures = run(args.terminals, args.fixes, args.procs, tmp, pipeline=not args.no_pipeline, rate=args.rate)
    except BaseException:
        print(f"failed: the processes' logs are in {tmp}", file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    ARTIFACT.parent.mkdir(exist_ok=True)
    ARTIFACT.write_text(json.dumps(figures, indent=2) + "\n")
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
