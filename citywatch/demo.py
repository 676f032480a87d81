"""The demo: a local broker, the simulated city, and the embedded pipeline, shown live.

The first round of the scenario replays the recent past at ``speed`` x real time, so that it
ends at the wall clock (never ahead of it: ingest refuses future timestamps); without a fixed
duration, later rounds continue live at real time until Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from rich.console import Console
from rich.live import Live

from citywatch.broker import LocalBroker, start_broker
from citywatch.pipeline import EmbeddedPipeline
from citywatch.settings import Settings
from citywatch.views import alert_table, demo_screen, ticket_table, vehicle_table
from devices.contracts import VehiclePosition
from devices.inventory import City, load_city
from devices.sim.generator import start_ms_for, suggest_start_ms
from devices.sim.publisher import PublisherConfig
from devices.sim.runner import SimStats, Simulation, run_simulation
from devices.sim.scenario import Scenario, load_scenario
from rules.geometry import haversine_m
from tickets.embedded import start_console

log = structlog.get_logger("demo")
DRAIN_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked of the demo."""

    scenario: Path
    seed: int
    speed: float
    duration: float | None
    summary_json: Path | None
    broker: str = "auto"


def now_ms() -> int:
    """Return the wall clock in epoch ms."""
    return time.time_ns() // 1_000_000


def publisher_config(settings: Settings, client_id: str) -> PublisherConfig:
    """Build the simulator's MQTT settings from the process settings."""
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return PublisherConfig(host=settings.mqtt_host, port=settings.mqtt_port, username=settings.mqtt_username,
                           password=password, client_id=client_id)


def run_sim_only(settings: Settings, scenario_path: Path, seed: int, speed: float, start_ms: int | None) -> SimStats:
    """Publish a scenario to the configured broker (the `citywatch sim` command)."""
    city = load_city(settings.city_dir)
    scenario = load_scenario(scenario_path, city)
    start = start_ms if start_ms is not None else start_ms_for(scenario, city, now_ms(), speed or None)
    return run_simulation(city, scenario, seed, start, publisher_config(settings, "citywatch-sim"), speed or None)


def round_gap_s(city: City) -> float:
    """Return the pause between rounds: trucks start each round where the scenario starts them.

    Long enough that the move from where a truck ended to where it starts again is a plausible
    drive across the city for the GPS anomaly check (so no false jump alarms), and shorter than
    a muck terminal may stay silent (so no false silence alarms); a city too large for both gets
    the latter.
    """
    places = [xy for cell in city.grid for xy in _ring(cell.polygon)] + [xy for p in city.permits for xy in p.route]
    if not places:
        return 0.0
    lons, lats = [xy[0] for xy in places], [xy[1] for xy in places]
    span_m = float(haversine_m(min(lons), min(lats), max(lons), max(lats)))
    drive_s = 1.1 * span_m / (city.meta.rules.gps_anomaly.max_speed_kmh / 3.6)
    return round(min(drive_s, 0.8 * city.meta.rules.silence.vehicle_s), 1)


def _ring(polygon: Any) -> list[tuple[float, float]]:
    """Return a polygon's exterior ring (grid cells come as a ring or as [ring, holes...])."""
    return [tuple(xy) for xy in (polygon[0] if polygon and isinstance(polygon[0][0], list | tuple) else polygon)]


class SimRounds:
    """Runs the scenario round after round on a thread: the first fast, the next ones live."""

    def __init__(self, city: City, scenario: Scenario, seed: int, cfg: PublisherConfig,
                 speed: float, wall_duration: float | None) -> None:
        self.city, self.scenario, self.seed, self.cfg = city, scenario, seed, cfg
        self.speed, self.wall_duration = speed, wall_duration
        self.published = 0
        self.rounds = 0
        self.current: Simulation | None = None
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        sim_s = self.scenario.duration_s
        if self.wall_duration is not None:
            sim_s = min(sim_s, self.wall_duration * self.speed)
        pinned = self.scenario.pinned_start_ms(self.city.meta.timezone)
        start, speed = suggest_start_ms(now_ms(), sim_s, self.speed, pinned), self.speed
        try:
            while not self._stopping.is_set():
                self.current = Simulation(self.city, self.scenario, self.seed + self.rounds, start,
                                          self.cfg, speed, sim_s)
                self.published += self.current.run().published
                self.rounds += 1
                if self.wall_duration is not None:
                    return
                gap_s = round_gap_s(self.city)  # the fleet pauses while event time moves on with the clock
                if self._stopping.wait(gap_s):
                    return
                start, speed, sim_s = start + int((sim_s + gap_s) * 1000), 1.0, self.scenario.duration_s
        except BaseException as exc:  # noqa: BLE001 - shown to the user by the owner thread
            self.error = exc

    def running_published(self) -> int:
        """Return messages published so far, the current round included."""
        current = self.current.stats.published if self.current and self.thread.is_alive() else 0
        return self.published + current

    def stop(self) -> None:
        """Stop after the message in flight."""
        self._stopping.set()
        if self.current is not None:
            self.current.stop()
        self.thread.join(timeout=30)


def fresh_settings(settings: Settings, broker: LocalBroker) -> Settings:
    """Point the settings at the demo's broker, and start from an empty ticket store."""
    for path in (settings.ticket_db, settings.deadletter_path):
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    v5 = broker.engine == "mosquitto"  # the embedded amqtt broker speaks MQTT 3.1.1 only
    return settings.model_copy(update={"mqtt_host": broker.host, "mqtt_port": broker.port,
                                       "mqtt_session_expiry_s": 0, "mqtt_client_id": "citywatch-demo",
                                       "mqtt_v5": v5})


def run_demo(settings: Settings, opts: DemoOptions) -> dict[str, Any]:
    """Run the demo until the duration passed or Ctrl-C; return (and maybe write) the summary."""
    city = load_city(settings.city_dir)
    scenario = load_scenario(opts.scenario, city)
    broker = start_broker(prefer="amqtt" if opts.broker == "amqtt" else "mosquitto")
    log.info("demo.broker", engine=broker.engine, port=broker.port)
    settings = fresh_settings(settings, broker)
    pipeline = EmbeddedPipeline(settings)
    pipeline.start()
    console = start_console(settings, pipeline.store, pipeline.runner, city)  # tickets API + dispatch console
    print(console.banner(), file=sys.stderr)
    sim = SimRounds(city, scenario, opts.seed, publisher_config(settings, "citywatch-demo-sim"), opts.speed,
                    opts.duration)
    started = time.monotonic()
    sim.thread.start()
    try:
        _show_live(pipeline, sim, city, opts, started)
    finally:
        sim.stop()
        _drain(pipeline, sim)
        summary = build_summary(pipeline, sim, opts, broker, time.monotonic() - started)
        console.stop()
        pipeline.stop()
        broker.stop()
    _finish(summary, opts)
    return summary


def _show_live(pipeline: EmbeddedPipeline, sim: SimRounds, city: City, opts: DemoOptions, started: float) -> None:
    """Refresh the screen every second until the duration passed, the sim failed, or Ctrl-C."""
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    plates = {v.terminal_id: v.plate for v in city.vehicles}
    console = Console()
    try:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while not interrupted.is_set() and not _finished(sim, opts, started):
                pipeline.check()
                live.update(_screen(pipeline, sim, plates, time.monotonic() - started))
                interrupted.wait(1.0)
            live.update(_screen(pipeline, sim, plates, time.monotonic() - started))
    finally:
        signal.signal(signal.SIGINT, previous)
    if sim.error is not None:
        raise sim.error


def _finished(sim: SimRounds, opts: DemoOptions, started: float) -> bool:
    if sim.error is not None:
        return True
    if opts.duration is None:
        return False
    return not sim.thread.is_alive() or time.monotonic() - started >= opts.duration + DRAIN_TIMEOUT_S


def _screen(pipeline: EmbeddedPipeline, sim: SimRounds, plates: dict[str, str], elapsed: float) -> Any:
    stats = pipeline.ingest.stats
    header = (f"citywatch demo — {elapsed:5.0f} s | published {sim.running_published()} | received "
              f"{stats.received} | ingested {stats.accepted} | dead-lettered {stats.deadlettered} | "
              f"alerts {sum(pipeline.runner.stats.alerts.values())} | Ctrl-C to stop")
    positions = [m for m in pipeline.runner.latest.values() if isinstance(m, VehiclePosition)]
    return demo_screen(header, vehicle_table(positions, plates), alert_table(pipeline.runner.recent_alerts),
                       ticket_table(pipeline.store.list()[-12:], title="Tickets (latest 12)"))


def _drain(pipeline: EmbeddedPipeline, sim: SimRounds) -> None:
    """Wait (bounded) until ingest has received everything the simulator published."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while pipeline.ingest.stats.received < sim.published and time.monotonic() < deadline:
        time.sleep(0.05)


def build_summary(pipeline: EmbeddedPipeline, sim: SimRounds, opts: DemoOptions, broker: LocalBroker,
                  wall_s: float) -> dict[str, Any]:
    """Return the run's figures: messages, dead letters, alerts and tickets by rule."""
    ingest, runner = pipeline.ingest.stats, pipeline.runner.stats
    alerts: dict[str, Counter[str]] = {}
    for key, n in runner.alerts.items():
        rule, phase = key.split(":")
        alerts.setdefault(rule, Counter())[phase] += n
    tickets = pipeline.store.list()
    return {
        "scenario": str(opts.scenario), "seed": opts.seed, "speed": opts.speed, "broker": broker.engine,
        "wall_seconds": round(wall_s, 1), "rounds": sim.rounds,
        "messages": {"published": sim.published, "received": ingest.received, "ingested": ingest.accepted,
                     "dead_lettered": ingest.deadlettered, "dead_letter_reasons": dict(ingest.rejected),
                     "duplicates_dropped": runner.duplicates},
        "alerts_by_rule": {rule: dict(c) for rule, c in sorted(alerts.items())},
        "tickets_by_rule": dict(sorted(Counter(t.rule for t in tickets).items())),
        "tickets": [{"ticket_id": t.ticket_id, "rule": t.rule, "subject": t.subject, "violation": t.violation,
                     "opened_ms": t.opened_ms, "cleared_ms": t.cleared_ms} for t in tickets],
    }


def _finish(summary: dict[str, Any], opts: DemoOptions) -> None:
    if opts.summary_json is not None:
        opts.summary_json.parent.mkdir(parents=True, exist_ok=True)
        opts.summary_json.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    m = summary["messages"]
    print(f"\npublished {m['published']}, received {m['received']}, ingested {m['ingested']}, "
          f"dead-lettered {m['dead_lettered']}, duplicates dropped {m['duplicates_dropped']}; "
          f"tickets by rule {summary['tickets_by_rule']}", file=sys.stderr)
    if opts.summary_json is not None:
        print(f"summary written to {opts.summary_json}", file=sys.stderr)
