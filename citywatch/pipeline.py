"""Wire the rooms together: the embedded pipeline (ingest + runner + tickets in one process)
and the stack's ingest (MQTT to Kafka). Settings decide everything; no logic lives here."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from dataclasses import dataclass

from citywatch.settings import Settings
from devices.inventory import load_city
from ingest.kafka_sink import KafkaSink
from ingest.mqtt_source import IngestError, MqttConfig, MqttSource
from ingest.service import IngestService
from ingest.validate import Limits
from rules.engine import Engine
from streams.embedded import DeadLetterFile, EmbeddedRunner, EmbeddedSink
from streams.timeseries.tap import open_tap
from streams.topics import ensure_topics
from tickets.factory import open_store


def mqtt_config(settings: Settings, role: str = "ingest") -> MqttConfig:
    """Build the MQTT client settings of an ingest process."""
    client_id = settings.mqtt_client_id or f"citywatch-{role}-{socket.gethostname()}-{os.getpid()}"
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return MqttConfig(
        host=settings.mqtt_host, port=settings.mqtt_port, client_id=client_id,
        share_group=settings.mqtt_share_group, username=settings.mqtt_username, password=password,
        session_expiry_s=settings.mqtt_session_expiry_s, mqtt5=settings.mqtt_v5,
    )


def limits(settings: Settings) -> Limits:
    """Build the ingest limits."""
    return Limits(settings.max_payload_bytes, int(settings.max_future_skew_s * 1000))


@dataclass
class EmbeddedPipeline:
    """Ingest, rules and tickets in one process, on a background thread with its own loop."""

    settings: Settings

    def __post_init__(self) -> None:
        self.store = open_store(self.settings)  # tickets.yaml config, routing by the city inventory
        self.runner = EmbeddedRunner(Engine(load_city(self.settings.city_dir)), self.store)
        self.influx = open_tap(self.settings, self.runner.engine.city)  # None unless CITYWATCH_INFLUX_URL
        self.runner.taps.extend([self.influx] if self.influx else [])
        self.deadletters = DeadLetterFile(self.settings.deadletter_path)
        self.source = MqttSource(mqtt_config(self.settings, "embedded"), self.settings.ingest_queue_size)
        self.ingest = IngestService(
            self.source, EmbeddedSink(self.runner, self.deadletters), limits(self.settings),
            batch_size=self.settings.ingest_batch_size,
        )
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._serve, name="embedded-pipeline", daemon=True)
        self.error: BaseException | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Connect, subscribe and start processing; raise if not subscribed in time."""
        self.source.start()
        if not self.source.wait_subscribed(timeout):
            raise TimeoutError(f"no MQTT subscription within {timeout} s")
        self._thread.start()

    def _serve(self) -> None:
        try:
            self._loop.run_until_complete(self.ingest.run(self._stop))
        except BaseException as exc:  # noqa: BLE001 - re-raised by the owner in stop()/check()
            self.error = exc

    def check(self) -> None:
        """Re-raise what the pipeline thread caught."""
        if self.error is not None:
            raise self.error

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
    await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.kafka_partitions,
                        settings.kafka_replication)
    sink = KafkaSink(settings.kafka_bootstrap, settings.topic_prefix)
    await sink.start()
    source = MqttSource(mqtt_config(settings), settings.ingest_queue_size)
    source.start()
    service = IngestService(source, sink, limits(settings), batch_size=settings.ingest_batch_size)
    try:
        if not await asyncio.to_thread(source.wait_subscribed, 30.0):
            raise IngestError(f"no MQTT subscription at {settings.mqtt_host}:{settings.mqtt_port} in 30 s")
        await service.run(stop)
    finally:
        source.stop()
        await sink.stop()
    return service
