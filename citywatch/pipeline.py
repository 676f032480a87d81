"""Wire the rooms together: the embedded pipeline (ingest + runner + tickets in one process)
and the stack's ingest (MQTT to Kafka). Settings decide everything; no logic lives here."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import structlog
from prometheus_client import CollectorRegistry

from citywatch.city import load_city
from citywatch.configs import influx_config
from citywatch.health import HealthServer
from citywatch.live_city import CityFollower, Listener
from citywatch.metrics import (
    FromCounters,
    batch_histogram,
    ingest_metrics,
    new_registry,
    runner_metrics,
    writer_metrics,
)
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from devices.inventory import City, city_version
from ingest.archive import ArchiveSink
from ingest.kafka_sink import KafkaSink
from ingest.mqtt_source import IngestError, MqttConfig, MqttSource
from ingest.service import IngestService, Sink
from ingest.validate import Limits
from rules.engine import Engine
from streams.embedded import DeadLetterFile, EmbeddedRunner, EmbeddedSink, Tap
from streams.timeseries.tap import open_tap
from streams.timeseries.writer import TimeSeriesWriter
from streams.topics import ensure_topics

log = structlog.get_logger("citywatch.pipeline")


def mqtt_config(settings: Settings, role: str = "ingest") -> MqttConfig:
    """Build the MQTT client settings of an ingest process."""
    client_id = settings.mqtt_client_id or f"citywatch-{role}-{settings.ingest_instance}"  # stable: the session
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return MqttConfig(
        host=settings.mqtt_host,
        port=settings.mqtt_port,
        client_id=client_id,
        share_group=settings.mqtt_share_group,
        topics=settings.mqtt_topic_filters(),
        username=settings.mqtt_username,
        password=password,
        session_expiry_s=settings.mqtt_session_expiry_s,
        mqtt5=settings.mqtt_v5,
        tls_ca=_path(settings.mqtt_tls_ca),
        tls_cert=_path(settings.mqtt_tls_cert),
        tls_key=_path(settings.mqtt_tls_key),
    )


def _path(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def limits(settings: Settings) -> Limits:
    """Build the ingest limits, with the city's devices and their kinds (any other device is refused)."""
    kinds = load_city(settings.city_dir).kind_by_device
    return Limits(settings.max_payload_bytes, int(settings.max_future_skew_s * 1000), kinds)


@dataclass
class EmbeddedPipeline:
    """Ingest, rules and tickets in one process, on a background thread with its own loop.

    The rule state is resumed from the ticket database at start (it is committed there with
    every batch's alerts before the batch is acknowledged), so a restart neither loses nor
    doubles an episode. If the pipeline thread fails, ``done`` is set and ``check`` re-raises:
    the process must end (``citywatch ingest`` exits non-zero) rather than idle on.
    """

    settings: Settings
    taps: Sequence[Tap] = ()  # what else sees every batch (the demo's live map and alert list)

    def __post_init__(self) -> None:
        self.store = open_store(self.settings)  # tickets.yaml config, routing by the city inventory
        self.store.retry_s = self.settings.store_retry_s
        self.runner = EmbeddedRunner(
            Engine(load_city(self.settings.city_dir)),
            self.store,
            taps=self.taps,
            suspensions=self.store.suspended_companies,
        )
        self.resumed = self.runner.resume()
        self.influx = open_tap(
            influx_config(self.settings), self.runner.engine.city
        )  # None unless CITYWATCH_INFLUX_URL
        self.runner.taps.extend([self.influx] if self.influx else [])
        self.deadletters = DeadLetterFile(self.settings.deadletter_path)
        self.source = MqttSource(mqtt_config(self.settings, "embedded"), self.settings.ingest_queue_size)
        self.ingest = IngestService(
            self.source,
            archived(self.settings, EmbeddedSink(self.runner, self.deadletters)),
            limits(self.settings),
            batch_size=self.settings.ingest_batch_size,
        )
        self.follower = CityFollower(self.settings.city_dir, self.runner.engine.city.meta.version, self._listeners())
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._serve, name="embedded-pipeline", daemon=True)
        self.error: BaseException | None = None
        self.done = threading.Event()  # set when the pipeline thread ends, for whatever reason

    def start(self, timeout: float = 15.0) -> None:
        """Connect, subscribe and start processing; raise if not subscribed in time."""
        self.source.start()
        if not self.source.wait_subscribed(timeout):
            raise TimeoutError(f"no MQTT subscription within {timeout} s")
        self._thread.start()

    def _listeners(self) -> list[Listener]:
        """What takes a new city version: the rules (next batch), ingest's devices, case routing, the tags."""
        listeners: list[Listener] = [
            lambda city: self.runner.adopt(Engine(city)),
            partial(follow_devices, self.ingest),
            self.store.use_city,
        ]
        return listeners + ([self.influx.tagger.use] if self.influx else [])

    async def _run(self) -> None:
        following = asyncio.create_task(self.follower.follow(self._stop, self.settings.city_reload_s))
        try:
            await self.ingest.run(self._stop)
        finally:
            self._stop.set()
            await following

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self._run())
        except BaseException as exc:
            self.error = exc
            log.error("pipeline.failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self.done.set()

    def check(self) -> None:
        """Re-raise what the pipeline thread caught."""
        if self.error is not None:
            raise self.error

    def health(self) -> dict[str, object]:
        """Return what /healthz reports: ok, and each part's state."""
        running = self._thread.is_alive() and self.error is None
        checks = {
            "pipeline": running,
            "mqtt": self.source.connected,
            "store": self.store.failing_since_ms is None,
            "keeping_up": self.ingest.stuck_for() < 60.0,
        }
        return {
            "ok": all(checks.values()),
            **checks,
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
        }

    def metrics(self) -> CollectorRegistry:
        """Return this pipeline's /metrics: ingest's counters and the InfluxDB writer's (the rules run in ingest)."""
        registry = ingest_registry(self.ingest, self.influx.writer if self.influx else None)
        registry.register(FromCounters(lambda: runner_metrics(self.runner.stats)))
        return registry

    def stop(self) -> None:
        """Stop processing, disconnect and close the stores."""
        if self._thread.ident is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=15)
        if not self._thread.is_alive():
            self._loop.close()
        self.source.stop()
        if self.influx:
            self.influx.close()
        self.deadletters.close()
        self.store.close()
        self.check()


async def run_stack_ingest(settings: Settings, stop: asyncio.Event) -> IngestService:
    """Run the stack's ingest (MQTT to Kafka) until stop is set."""
    await ensure_topics(
        settings.kafka_bootstrap, settings.topic_prefix, settings.kafka_partitions, settings.kafka_replication
    )
    sink = KafkaSink(settings.kafka_bootstrap, settings.topic_prefix)
    await sink.start()
    source = MqttSource(mqtt_config(settings), settings.ingest_queue_size)
    source.start()
    service = IngestService(source, archived(settings, sink), limits(settings), batch_size=settings.ingest_batch_size)
    version = city_version(settings.city_dir) or 0
    follower = CityFollower(settings.city_dir, version, [partial(follow_devices, service)])
    following = asyncio.create_task(follower.follow(stop, settings.city_reload_s))
    health = (
        HealthServer(
            settings.health_host, settings.health_port, lambda: stack_health(service), ingest_registry(service)
        ).start()
        if settings.health_port
        else None
    )
    try:
        if not await asyncio.to_thread(source.wait_subscribed, 30.0):
            raise IngestError(f"no MQTT subscription at {settings.mqtt_host}:{settings.mqtt_port} in 30 s")
        await service.run(stop)
    finally:
        following.cancel()
        if health:
            health.stop()
        source.stop()
        await sink.stop()
    return service


def ingest_registry(service: IngestService, writer: TimeSeriesWriter | None = None) -> CollectorRegistry:
    """Return ingest's /metrics: its counters, batch latency and (embedded) the InfluxDB writer's."""
    registry = new_registry()
    registry.register(FromCounters(lambda: ingest_metrics(service)))
    registry.register(FromCounters(lambda: writer_metrics(writer)))
    service.observe_batch = batch_histogram(registry).observe
    return registry


def follow_devices(service: IngestService, city: City) -> None:
    """Accept a new city version's devices (and refuse the ones it dropped) from the next batch on."""
    service.limits = replace(service.limits, kinds=city.kind_by_device)


def archived(settings: Settings, sink: Sink) -> Sink:
    """Return the sink, archiving accepted events first when ``CITYWATCH_INGEST_ARCHIVE_DIR`` is set."""
    return ArchiveSink(settings.ingest_archive_dir, sink) if settings.ingest_archive_dir else sink


def stack_health(service: IngestService, stuck_after_s: float = 30.0) -> dict[str, object]:
    """Return what the stack ingest's /healthz reports: connected to MQTT, Kafka taking batches."""
    checks = {"mqtt": service.source.connected, "kafka": service.stuck_for() < stuck_after_s}
    return {"ok": all(checks.values()), **checks, "received": service.stats.received}
