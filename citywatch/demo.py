"""The demo: a local broker, the simulated city, and the embedded pipeline, shown live.

The first round of the scenario replays the recent past at ``speed`` x real time, so that it
ends at the wall clock (never ahead of it: ingest refuses future timestamps); without a fixed
duration, later rounds continue live at real time until Ctrl-C.

``protocol="jt808"``: the trucks speak JT/T 808 to the gateway, started in-process on its own thread
and event loop (``DemoGateway``), which publishes their positions and statuses to the demo's broker;
cameras and sensors stay on MQTT. The run starts on a whole second. The gateway stamps the statuses
it announces with the simulation's clock (the newest event time the fleet has sent), not the wall
clock: in a replay, wall-clock statuses would be minutes ahead of every other event and push the
event-time watermark past them (every truck, bin and site would look silent).
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog
from rich.console import Console
from rich.live import Live

from citywatch.activity import RecentAlerts
from citywatch.broker import LocalBroker, start_broker
from citywatch.city import load_city
from citywatch.console import start_console
from citywatch.health import HealthServer
from citywatch.logs import configure_logging
from citywatch.metrics import FromCounters, new_registry, sim_metrics
from citywatch.pipeline import EmbeddedPipeline
from citywatch.settings import Settings
from citywatch.views import alert_table, demo_screen, ticket_table, vehicle_table
from devices.areas import exteriors
from devices.contracts import Message, VehiclePosition
from devices.inventory import City
from devices.sim.generator import start_ms_for, suggest_start_ms
from devices.sim.jt808_fleet import FleetConfig, FleetStats, Jt808Fleet
from devices.sim.publisher import MqttPublisher, PublisherConfig
from devices.sim.runner import SimStats, Simulation
from devices.sim.scenario import Scenario, load_scenario
from rules.geometry import haversine_m
from rules.params import params_of
from tickets.live import LiveView

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
    protocol: Literal["mqtt", "jt808"] = "mqtt"
    log_file: Path | None = None  # where the logs go once the city and scenario loaded (None: stderr)


def now_ms() -> int:
    """Return the wall clock in epoch ms."""
    return time.time_ns() // 1_000_000


def publisher_config(settings: Settings, client_id: str) -> PublisherConfig:
    """Build the simulator's MQTT settings from the process settings."""
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return PublisherConfig(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        username=settings.mqtt_username,
        password=password,
        client_id=client_id,
    )


def run_sim_only(settings: Settings, scenario_path: Path, seed: int, speed: float, start_ms: int | None) -> SimStats:
    """Publish a scenario to the configured broker until done or SIGINT / SIGTERM (the `citywatch sim` command)."""
    city = load_city(settings.city_dir)
    scenario = load_scenario(scenario_path, city)
    start = start_ms if start_ms is not None else start_ms_for(scenario, city, now_ms(), speed or None)
    sim = Simulation(city, scenario, seed, start, publisher_config(settings, "citywatch-sim"), speed or None)
    health = sim_health(settings, sim)
    for sig in (signal.SIGINT, signal.SIGTERM):  # a stopped container: devices go offline, nothing half-sent
        signal.signal(sig, lambda _signum, _frame: sim.stop())
    try:
        return sim.run()
    finally:
        if health is not None:
            health.stop()


def sim_health(settings: Settings, sim: Simulation) -> HealthServer | None:
    """Serve the simulator's /healthz (connected to the broker) and /metrics on CITYWATCH_HEALTH_PORT, if set."""
    if not settings.health_port:
        return None
    publisher = sim.publisher

    def probe() -> dict[str, object]:
        connected = bool(getattr(publisher, "connected", False))
        return {"ok": connected, "mqtt": connected, "published": sim.stats.published}

    registry = new_registry()
    registry.register(FromCounters(lambda: sim_metrics(sim.stats, publisher)))
    return HealthServer(settings.health_host, settings.health_port, probe, registry).start()


def round_gap_s(city: City) -> float:
    """Return the pause between rounds: trucks start each round where the scenario starts them.

    Long enough that the move from where a truck ended to where it starts again is a plausible
    drive across the city for the GPS anomaly check (so no false jump alarms), and shorter than
    a muck terminal may stay silent (so no false silence alarms); a city too large for both gets
    the latter.
    """
    places = [tuple(xy) for c in city.grid for ring in exteriors(c.polygon) for xy in ring]
    places += [tuple(xy) for p in city.permits for xy in p.route]
    if not places:
        return 0.0
    lons, lats = [xy[0] for xy in places], [xy[1] for xy in places]
    span_m = float(haversine_m(min(lons), min(lats), max(lons), max(lats)))
    drive_s = 1.1 * span_m / (params_of(city).gps_anomaly.max_speed_kmh / 3.6)
    return round(min(drive_s, 0.8 * params_of(city).silence.vehicle_s), 1)


class SimRounds:
    """Runs the scenario round after round on a thread: the first fast, the next ones live.

    With ``fleet`` the trucks that have a JT/T 808 phone number report to the gateway it names
    (``Jt808Fleet``), and the first round starts on a whole second. ``event_ms`` is the newest
    event time handed to the broker or the gateway: the clock of the simulated world.
    """

    def __init__(
        self,
        city: City,
        scenario: Scenario,
        seed: int,
        cfg: PublisherConfig,
        speed: float,
        wall_duration: float | None,
        fleet: FleetConfig | None = None,
    ) -> None:
        self.city, self.scenario, self.seed, self.cfg = city, scenario, seed, cfg
        self.speed, self.wall_duration, self.fleet = speed, wall_duration, fleet
        self.published = 0
        self.rounds = 0
        self.start_ms: int | None = None  # of the first round
        self.event_ms: int | None = None
        self.fleet_stats = FleetStats()  # over every round
        self.current: Simulation | None = None
        self._stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self.error: BaseException | None = None

    def _publisher(self) -> PublisherConfig | Jt808Fleet:
        if self.fleet is None:
            return self.cfg
        return Jt808Fleet(self.city, MqttPublisher(self.cfg), self.fleet, self.fleet_stats)

    def _seen(self, message: Message) -> None:
        self.event_ms = max(self.event_ms or message.ts_ms, message.ts_ms)

    def _run(self) -> None:
        sim_s = self.scenario.duration_s
        if self.wall_duration is not None:
            sim_s = min(sim_s, self.wall_duration * self.speed)
        pinned = self.scenario.pinned_start_ms(self.city.meta.timezone)
        start, speed = suggest_start_ms(now_ms(), sim_s, self.speed, pinned), self.speed
        if self.fleet is not None and pinned is None:
            start -= start % 1000  # JT/T 808 times are whole seconds
        self.start_ms = start
        try:
            while not self._stopping.is_set():
                self.event_ms = start
                self.current = Simulation(
                    self.city,
                    self.scenario,
                    self.seed + self.rounds,
                    start,
                    self._publisher(),
                    speed,
                    sim_s,
                    on_message=self._seen,
                )
                self.published += self.current.run().published
                self.rounds += 1
                if self.wall_duration is not None:
                    return
                gap_s = round_gap_s(self.city)  # the fleet pauses while event time moves on with the clock
                if self._stopping.wait(gap_s):
                    return
                start, speed, sim_s = start + int((sim_s + gap_s) * 1000), 1.0, self.scenario.duration_s
        except BaseException as exc:
            self.error = exc

    def running_published(self) -> int:
        """Return messages the simulator published so far, the current round included."""
        current = self.current.stats.published if self.current and self.thread.is_alive() else 0
        return self.published + current

    def event_clock_ms(self) -> int:
        """Return the simulated world's time: the newest event time sent (the wall clock before the first)."""
        return self.event_ms if self.event_ms is not None else now_ms()

    def stop(self) -> None:
        """Stop after the message in flight."""
        self._stopping.set()
        if self.current is not None:
            self.current.stop()
        self.thread.join(timeout=30)


class DemoGateway:
    """The JT/T 808 gateway of the demo on its own thread and event loop, on a free loopback port.

    It publishes anonymously to the demo's broker, as the simulator does, and stamps what it
    announces itself (online, offline) with ``clock``: the simulation's event time.
    """

    def __init__(self, settings: Settings, clock: Callable[[], int]) -> None:
        self.settings = settings.model_copy(
            update={
                "gateway_host": "127.0.0.1",
                "gateway_port": 0,
                "gateway_health_port": 0,
                "mqtt_client_id": "citywatch-demo-gateway",
                "mqtt_username": None,
                "mqtt_password": None,
                "mqtt_tls_ca": None,
                "mqtt_tls_cert": None,
                "mqtt_tls_key": None,
            }
        )
        self.clock = clock
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="jt808-gateway", daemon=True)
        self.running: Any = None  # citywatch.gateway.RunningGateway once started

    def start(self) -> DemoGateway:
        """Start the gateway; return once it listens and has its MQTT connection."""
        # imported here: only the jt808 demo needs the gateway
        from citywatch.gateway import start_gateway

        self.thread.start()
        try:
            started = start_gateway(self.settings, 0, self.clock)
            self.running = asyncio.run_coroutine_threadsafe(started, self.loop).result(60)
        except BaseException:
            self.stop()
            raise
        log.info("demo.gateway", port=self.port)
        return self

    @property
    def port(self) -> int:
        """Return the port the gateway listens on."""
        return int(self.running.gateway.port)

    @property
    def stats(self) -> dict[str, Any]:
        """Return the gateway's counters: connections, frames, refused, published."""
        return dict(self.running.gateway.stats.as_dict()) if self.running is not None else {}

    def stop(self) -> None:
        """Close the terminals' connections and the MQTT client, stop the loop."""
        try:
            if self.running is not None:
                asyncio.run_coroutine_threadsafe(self.running.stop(), self.loop).result(30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
            if not self.thread.is_alive():
                self.loop.close()


def fresh_settings(settings: Settings, broker: LocalBroker) -> Settings:
    """Point the settings at the demo's broker, and start from an empty ticket store."""
    for path in (settings.ticket_db, settings.deadletter_path):
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
    v5 = broker.engine == "mosquitto"  # the embedded amqtt broker speaks MQTT 3.1.1 only
    return settings.model_copy(
        update={
            "mqtt_host": broker.host,
            "mqtt_port": broker.port,
            "mqtt_session_expiry_s": 0,
            "mqtt_client_id": "citywatch-demo",
            "mqtt_v5": v5,
        }
    )


@dataclass(frozen=True)
class DemoView:
    """What the demo's screen and console show, kept by two of the runner's taps."""

    live_map: LiveView  # each device's latest telemetry and tracks (the console's map, the screen's trucks)
    alerts: RecentAlerts


def log_to_file(path: Path) -> None:
    """Send the logs to a file, so that they do not tear the live screen, and say where on stderr."""
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"logs go to {path}", file=sys.stderr)
    configure_logging(json=False, stream=path.open("a", encoding="utf-8"))


def run_demo(settings: Settings, opts: DemoOptions) -> dict[str, Any]:
    """Run the demo until the duration passed or Ctrl-C; return (and maybe write) the summary."""
    city = load_city(settings.city_dir)
    scenario = load_scenario(opts.scenario, city)
    if opts.log_file is not None:
        log_to_file(opts.log_file)
    broker = start_broker(prefer="amqtt" if opts.broker == "amqtt" else "mosquitto")
    log.info("demo.broker", engine=broker.engine, port=broker.port)
    settings = fresh_settings(settings, broker)
    view = DemoView(LiveView(city), RecentAlerts())
    pipeline = EmbeddedPipeline(settings, taps=[view.live_map, view.alerts])
    pipeline.start()
    console = start_console(settings, pipeline.store, city, view.live_map)  # tickets API + dispatch console
    pipeline.follower.listeners.append(console.service.use_city)  # a city changed through the API: the map too
    print(console.banner(), file=sys.stderr)
    sim = SimRounds(
        city, scenario, opts.seed, publisher_config(settings, "citywatch-demo-sim"), opts.speed, opts.duration
    )
    gateway: DemoGateway | None = None
    try:
        if opts.protocol == "jt808":
            gateway = DemoGateway(settings, sim.event_clock_ms).start()
            sim.fleet = FleetConfig(port=gateway.port, heartbeat_s=min(60.0, settings.gateway_idle_timeout_s / 3))
        started = time.monotonic()
        sim.thread.start()
        try:
            _show_live(pipeline, view, sim, gateway, city, opts, started)
        finally:
            sim.stop()
            if gateway is not None:
                gateway.stop()
            _drain(pipeline, sim, gateway)
            summary = build_summary(pipeline, sim, gateway, opts, broker, time.monotonic() - started)
    finally:
        console.stop()
        pipeline.stop()
        broker.stop()
    _finish(summary, opts)
    return summary


def delivered(sim: SimRounds, gateway: DemoGateway | None) -> int:
    """Return the messages that reached the broker: the simulator's, and with JT/T 808 the gateway's."""
    if gateway is None:
        return sim.published
    return sim.fleet_stats.forwarded + int(gateway.stats.get("published", 0))


def _show_live(
    pipeline: EmbeddedPipeline,
    view: DemoView,
    sim: SimRounds,
    gateway: DemoGateway | None,
    city: City,
    opts: DemoOptions,
    started: float,
) -> None:
    """Refresh the screen every second until the duration passed, the sim failed, or Ctrl-C."""
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    plates = {v.terminal_id: v.plate for v in city.vehicles}
    console = Console()
    try:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while not interrupted.is_set() and not _finished(sim, opts, started):
                pipeline.check()
                live.update(_screen(pipeline, view, sim, gateway, plates, time.monotonic() - started))
                interrupted.wait(1.0)
            live.update(_screen(pipeline, view, sim, gateway, plates, time.monotonic() - started))
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


def _screen(
    pipeline: EmbeddedPipeline,
    view: DemoView,
    sim: SimRounds,
    gateway: DemoGateway | None,
    plates: dict[str, str],
    elapsed: float,
) -> Any:
    stats = pipeline.ingest.stats
    via = f" | JT/T 808 gateway published {gateway.stats.get('published', 0)}" if gateway is not None else ""
    header = (
        f"citywatch demo — {elapsed:5.0f} s | published {sim.running_published()}{via} | received "
        f"{stats.received} | ingested {stats.accepted} | dead-lettered {stats.deadlettered} | "
        f"alerts {sum(pipeline.runner.stats.alerts.values())} | Ctrl-C to stop"
    )
    positions = [m for m in view.live_map.latest_messages() if isinstance(m, VehiclePosition)]
    return demo_screen(
        header,
        vehicle_table(positions, plates),
        alert_table(view.alerts.recent()),
        ticket_table(pipeline.store.list()[-12:], title="Tickets (latest 12)"),
    )


def _drain(pipeline: EmbeddedPipeline, sim: SimRounds, gateway: DemoGateway | None) -> None:
    """Wait (bounded) until ingest has received everything the simulator (and the gateway) published."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while pipeline.ingest.stats.received < delivered(sim, gateway) and time.monotonic() < deadline:
        time.sleep(0.05)


def build_summary(
    pipeline: EmbeddedPipeline,
    sim: SimRounds,
    gateway: DemoGateway | None,
    opts: DemoOptions,
    broker: LocalBroker,
    wall_s: float,
) -> dict[str, Any]:
    """Return the run's figures: messages, dead letters, alerts and tickets by rule (and the gateway's)."""
    ingest, runner = pipeline.ingest.stats, pipeline.runner.stats
    alerts: dict[str, Counter[str]] = {}
    for key, n in runner.alerts.items():
        rule, phase = key.split(":")
        alerts.setdefault(rule, Counter())[phase] += n
    tickets = pipeline.store.list()
    summary: dict[str, Any] = {
        "scenario": str(opts.scenario),
        "seed": opts.seed,
        "speed": opts.speed,
        "broker": broker.engine,
        "protocol": opts.protocol,
        "start_ms": sim.start_ms,
        "wall_seconds": round(wall_s, 1),
        "rounds": sim.rounds,
        "messages": {
            "published": delivered(sim, gateway),
            "received": ingest.received,
            "ingested": ingest.accepted,
            "dead_lettered": ingest.deadlettered,
            "dead_letter_reasons": dict(ingest.rejected),
            "duplicates_dropped": runner.duplicates,
        },
        "alerts_by_rule": {rule: dict(c) for rule, c in sorted(alerts.items())},
        "tickets_by_rule": dict(sorted(Counter(t.rule for t in tickets).items())),
        "tickets": [
            {
                "ticket_id": t.ticket_id,
                "rule": t.rule,
                "subject": t.subject,
                "violation": t.violation,
                "opened_ms": t.opened_ms,
                "cleared_ms": t.cleared_ms,
            }
            for t in tickets
        ],
    }
    if gateway is not None:  # what the simulator generated, the terminals sent, and the gateway did
        summary["jt808"] = {"simulated": sim.published, "fleet": sim.fleet_stats.as_dict(), "gateway": gateway.stats}
    return summary


def _finish(summary: dict[str, Any], opts: DemoOptions) -> None:
    if opts.summary_json is not None:
        opts.summary_json.parent.mkdir(parents=True, exist_ok=True)
        opts.summary_json.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    m = summary["messages"]
    print(
        f"\nprotocol {summary['protocol']}: published {m['published']}, received {m['received']}, "
        f"ingested {m['ingested']}, dead-lettered {m['dead_lettered']}, duplicates dropped "
        f"{m['duplicates_dropped']}; tickets by rule {summary['tickets_by_rule']}",
        file=sys.stderr,
    )
    if "jt808" in summary:
        gw, fleet = summary["jt808"]["gateway"], summary["jt808"]["fleet"]
        print(
            f"JT/T 808 gateway: frames {gw.get('frames', {})}, refused {gw.get('refused', {})}, "
            f"published {gw.get('published', 0)} (terminals {fleet['terminals']}, positions acknowledged "
            f"{fleet['positions']}, resent {fleet['resends']})",
            file=sys.stderr,
        )
    if opts.summary_json is not None:
        print(f"summary written to {opts.summary_json}", file=sys.stderr)
