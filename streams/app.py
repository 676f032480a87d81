"""The faust-streaming app of the stack, built by ``build_app`` (run: ``faust -A citywatch.worker worker``).

The engine's three stages as agents, each with its state in a faust table (changelog in Kafka):
1. one agent per event stream, state keyed by device id (co-partitioned with the sources); it sends
   facts to ``facts`` (keyed by fact key) and alerts to ``alerts-raw`` (keyed by fusion key);
2. ``keyed-rules`` on ``facts`` (one partition), state keyed by e.g. collection point;
3. ``fusion`` on ``alerts-raw``, which sends the final alerts to ``alerts``; a sink agent applies
   them to the ticket store.
Watermark-driven rules (silences, deadlines) run inside the streams: when a partition's event time
has advanced a tick, its agent ticks that partition's devices (so table writes stay on the right
changelog partition) and sends a watermark fact on to stage 2, which judges deadlines at the
minimum over all source partitions (the low watermark). A partition's event time moves with its
own events and with the watermark records ingest writes into every partition (``ingest.watermark``),
which sit in the partition's order behind everything forwarded before them: a device alone on a
quiet partition still sees time pass, and a worker catching up on a lagging partition never
judges it against another partition's clock.
No rule logic lives here, and no settings: ``citywatch.worker`` builds the app from a ``WorkerConfig``,
the city and the ticket store's opener, so importing this module has no side effects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

import faust
import structlog
from faust.streams import _current_event
from faust.types import TP, EventT, StreamT
from faust.types.transports import TransportT

from devices.catalog import ALERTS, ALERTS_RAW, DEADLETTER, EVENT_STREAMS, FACTS
from devices.inventory import City
from rules.alerts import Alert
from rules.engine import Engine, Outcome
from streams.changelog import ChangelogWriter
from streams.codec import decode_alert, encode_alert, encode_fact
from streams.stages import StageDriver, TableStates
from streams.state_codec import StateCodec
from streams.step import (
    Record,
    StepFailed,
    Watermark,
    prepare,
    step_fact,
    step_fusion,
    step_prepared,
)
from streams.timeseries.stack import add_influx_agents
from streams.timeseries.writer import InfluxConfig
from streams.topics import ensure_topics
from streams.transport import Consumer, Transport

log = structlog.get_logger("streams.app")
CHANGELOG_CONFIG = {  # roll and compact changelog segments often, so a restore reads ~one record per key, not history
    "segment.ms": str(10 * 60_000),
    "min.cleanable.dirty.ratio": "0.1",
}
PRODUCER_BUFFER_BATCHES = 4
CHANGELOG_BATCH_BYTES = 512 * 1024  # a rules batch's states go out in a few Kafka record batches (broker limit 1 MB)
EXIT_STORE_UNAVAILABLE = 75  # EX_TEMPFAIL: try again later
REREAD_AFTER_S = 20.0  # a partition whose commits wait this long for a record nobody processes: fetch it again
COMMIT_STALL_S = 60.0  # and still waiting this long: restart


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a stream worker needs to know: its Kafka, its app id and state directory, batching, InfluxDB."""

    app_id: str
    kafka_bootstrap: str
    topic_prefix: str
    partitions: int
    replication: int
    web_host: str
    web_port: int
    data_dir: Path
    session_timeout_s: float
    standby_replicas: int
    rules_batch_size: int
    rules_batch_within_s: float
    store_retry_s: float
    influx_enqueue_timeout_s: float
    influx: InfluxConfig | None = None  # None: no InfluxDB sink agents

    def topic(self, name: str) -> str:
        """Return the Kafka topic name of a logical stream (positions, alerts, ...)."""
        return self.topic_prefix + name


class AlertStore(Protocol):
    """The ticket store as the sink agent uses it (``tickets.store.TicketStore``)."""

    retry_s: float
    failing_since_ms: int | None

    def apply(self, alerts: list[Alert]) -> int:
        """Apply a batch of alerts in one transaction."""

    def suspended_companies(self) -> frozenset[str]:
        """Return the companies suspended now."""

    def use_city(self, city: City) -> None:
        """Route new cases by a new city version."""

    def close(self) -> None:
        """Release the store."""


@dataclass
class WorkerCounters:
    """What this worker did since it started: events by source stream, alerts (after fusion) by rule."""

    events: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)


class CityWatchApp(faust.App):
    """The faust app, which makes sure its source topics exist before it subscribes."""

    worker_config: WorkerConfig
    stages: StageDriver  # replaced whole when a new city version arrives: a batch keeps the one it began with
    city_listeners: list[Callable[[City], None]]  # what takes a new city version (``citywatch.live_city``)
    alerts_topic: Any
    alerts_raw_topic: Any
    facts_topic: Any
    deadletter_topic: Any
    sink_health: dict[str, Any]
    changelog_writers: dict[str, ChangelogWriter]  # the rule agents' state writers, by event stream
    counters: WorkerCounters  # read by the process's /metrics

    async def on_first_start(self) -> None:
        """Create missing topics, let the producer buffer hold a few batches of writes, then start as faust does."""
        c = self.worker_config
        await ensure_topics(c.kafka_bootstrap, c.topic_prefix, c.partitions, c.replication)
        # faust pauses the streams while more than 100 records wait in its producer buffer: the facts
        # and fusion tables' writes and every forwarded fact and alert (the rule agents' own states go
        # out through ChangelogWriter); a few batches' worth keeps it from stalling, memory still bounded
        self.producer.buffer.max_messages = PRODUCER_BUFFER_BATCHES * c.rules_batch_size
        await super().on_first_start()

    def adopt_engine_of(self, city: City) -> None:
        """Judge with a new city version from the next batch on; rule states (the tables) carry over."""
        engine = Engine(city)
        engine.set_suspended(self.stages.engine.index.suspended)
        self.stages = StageDriver(engine)

    def route_cases_by(self, city: City) -> None:
        """Route new cases (grid cell, owner, plate) by a new city version, once the ticket store is open."""
        store = self.sink_health.get("store")
        if store is not None:
            store.use_city(city)

    def _new_transport(self) -> TransportT:
        """Use faust's aiokafka transport with the consumer of ``streams.transport``."""
        return Transport(self.conf.broker_consumer, self)


def build_app(config: WorkerConfig, city: City, open_store: Callable[[], AlertStore]) -> CityWatchApp:
    """Return the stack's faust app: the three stages as agents, the InfluxDB and ticket sinks, /healthz."""
    app = _new_app(config)
    app.worker_config, app.sink_health, app.changelog_writers = config, {}, {}
    app.counters = WorkerCounters()
    app.stages = StageDriver(Engine(city))
    app.alerts_topic = _raw_topic(app, ALERTS)
    app.alerts_raw_topic = _raw_topic(app, ALERTS_RAW)
    app.facts_topic = _raw_topic(app, FACTS, partitions=1)
    app.deadletter_topic = _raw_topic(app, DEADLETTER)
    for stream in EVENT_STREAMS:
        _rule_agent(app, stream)
    _keyed_rules_agent(app)
    _fusion_agent(app)
    influx = add_influx_agents(app, config.influx, city, config.topic, config.influx_enqueue_timeout_s)
    if influx:
        app.sink_health["influx"] = influx[0]
    app.city_listeners = [app.adopt_engine_of, *([influx[1].use] if influx else []), app.route_cases_by]
    _ticket_sink_agent(app, open_store)
    _suspensions_timer(app)
    _health_page(app)
    _commit_watch(app)
    return app


def _new_app(c: WorkerConfig) -> CityWatchApp:
    return CityWatchApp(
        c.app_id,
        broker=f"kafka://{c.kafka_bootstrap}",
        store="memory://",
        topic_partitions=c.partitions,
        web_port=c.web_port,
        web_host=c.web_host,
        datadir=str(c.data_dir / c.app_id),
        producer_acks=-1,
        topic_disable_leader=True,
        broker_session_timeout=c.session_timeout_s,  # a killed worker's partitions move on in seconds
        broker_heartbeat_interval=min(3.0, c.session_timeout_s / 3),
        table_standby_replicas=c.standby_replicas,  # 0: a failover restores from the changelog instead
        producer_max_batch_size=CHANGELOG_BATCH_BYTES,
        consumer_max_fetch_size=4
        * 1024
        * 1024,  # per partition: a restore reads the changelogs 2x faster than at 1 MiB
    )


def _raw_topic(app: CityWatchApp, name: str, **options: Any) -> Any:
    return app.topic(app.worker_config.topic(name), key_serializer="raw", value_serializer="raw", **options)


def in_event_context(event: EventT[Any]) -> None:
    """Make an event of a ``take_events`` batch the stream's current event, as ``async for`` does.

    faust attaches what an agent sends to the current event and publishes it when that event's
    offset is committed; a batch leaves the batch's last event current, and after a rebalance the
    sends of a partition taken over then hang on an event of another partition: its offsets were
    never committed again (measured with two workers, one killed). This sets faust's own context
    variable (faust-streaming is pinned, see pyproject).
    """
    _current_event.set(weakref.ref(event))


async def forward(app: CityWatchApp, outcome: Outcome, engine: Engine) -> None:
    """Send an outcome's facts to the facts topic and its alerts on to fusion (keyed by ``engine``)."""
    for fact in outcome.facts:
        await app.facts_topic.send(key=fact.key.encode(), value=encode_fact(fact))
    for alert in outcome.alerts:
        await app.alerts_raw_topic.send(key=engine.fusion_key(alert).encode(), value=encode_alert(alert))


def _state_table(app: CityWatchApp, name: str, **options: Any) -> Any:
    """Declare a stage's table: raw keys, ``DeviceState`` values kept decoded, their JSON in the changelog."""
    table: Any = app.Table(name, key_type=bytes, extra_topic_configs=CHANGELOG_CONFIG, **options)
    # faust 0.15 takes a table's codec from its value type only; its store and changelog topic are made
    # lazily, on first use, with the codec set here
    table.value_serializer = StateCodec()
    return table


def _rule_agent(app: CityWatchApp, stream_name: str) -> None:
    """Declare the agent and state table that run the rules over one event stream."""
    config = app.worker_config
    source = _raw_topic(app, stream_name)
    table = _state_table(app, f"state-{stream_name}")
    states, changelog = TableStates(table, deferred=True), ChangelogWriter(app, table)  # written once per batch
    app.changelog_writers[stream_name] = changelog
    watermarks: dict[int, Watermark] = defaultdict(Watermark)  # event time of each partition

    async def run_rules(stream: StreamT[Any]) -> None:
        batches = stream.take_events(config.rules_batch_size, within=config.rules_batch_within_s)  # type: ignore[attr-defined]  # faust-streaming 0.15 has it, its StreamT does not declare it
        async for events in batches:  # acked once the whole batch is done
            records = [Record(e.message.partition, e.key, e.value) for e in events]
            app.counters.events[stream_name] += len(records)
            stages = app.stages  # one city version for the whole batch (a new one is taken between batches)
            for event, prepared in zip(events, prepare(stages.engine, stream_name, records), strict=True):
                in_event_context(event)  # what it sends on is attached to this event's offset
                for result in step_prepared(
                    stages, states, stream_name, prepared, watermarks[event.message.partition], config.partitions
                ):
                    if isinstance(result, StepFailed):
                        await app.deadletter_topic.send(key=result.key, value=result.record())
                    else:
                        await forward(app, result, stages.engine)
            try:
                await changelog.write(states.take_changed())  # before the batch is acknowledged
            except Exception as exc:
                exit_worker("state changelog unavailable", exc)  # restart: the batch is read again

    app.agent(source, name=f"rules-{stream_name}")(run_rules)


def _keyed_rules_agent(app: CityWatchApp) -> None:
    """Stage 2: facts (e.g. a collection point served) against the state of their key."""
    key_table = _state_table(app, "state-facts", partitions=1)

    async def keyed_rules(stream: StreamT[Any]) -> None:
        async for key, value in stream.items():
            try:
                stages = app.stages
                await forward(app, step_fact(stages, key_table, key, value), stages.engine)
            except StepFailed as exc:
                await app.deadletter_topic.send(key=key, value=exc.record())

    app.agent(app.facts_topic, name="keyed-rules")(keyed_rules)


def _fusion_agent(app: CityWatchApp) -> None:
    """Stage 3: alerts of one real-world violation become one, then go to the alerts topic."""
    fusion_table = _state_table(app, "state-fusion")

    async def fusion(stream: StreamT[Any]) -> None:
        async for key, value in stream.items():
            try:
                alerts = step_fusion(app.stages, fusion_table, key, value)
            except StepFailed as exc:
                await app.deadletter_topic.send(key=key, value=exc.record())
                continue
            for alert in alerts:
                app.counters.alerts[alert.rule] += 1
                await app.alerts_topic.send(key=alert.alert_id.encode(), value=encode_alert(alert))

    app.agent(app.alerts_raw_topic, name="fusion")(fusion)


def _ticket_sink_agent(app: CityWatchApp, open_store: Callable[[], AlertStore]) -> None:
    """Apply alerts to the ticket store in batches, off the event loop (the store opens when the agent starts).

    A batch is acknowledged to Kafka only after the store committed it. If the database stays away
    longer than ``CITYWATCH_STORE_RETRY_S`` the worker exits at once, non-zero, before faust can
    acknowledge the batch: its restart (compose: ``restart: unless-stopped``) reads it again.
    """

    async def ticket_sink(stream: StreamT[Any]) -> None:
        try:
            store = await asyncio.to_thread(open_store)  # SQLite or PostgreSQL
        except Exception as exc:
            exit_worker("ticket store cannot be opened", exc)
        store.retry_s = app.worker_config.store_retry_s
        app.sink_health["store"] = store
        try:
            async for values in stream.take(500, within=0.5):
                alerts = [decode_alert(v) for v in values]
                try:
                    await asyncio.to_thread(store.apply, alerts)
                except Exception as exc:
                    exit_worker("ticket store unavailable", exc)
        finally:
            store.close()

    app.agent(app.alerts_topic, name="ticket-sink")(ticket_sink)


def _suspensions_timer(app: CityWatchApp) -> None:
    """Give the rules the companies suspended now (退出机制: their trucks must not drive), from the store."""

    async def refresh_suspensions() -> None:
        store = app.sink_health.get("store")
        if store is not None:
            try:
                app.stages.engine.set_suspended(await asyncio.to_thread(store.suspended_companies))
            except Exception as exc:
                log.warning("suspensions.unavailable", error=str(exc)[:200])

    app.timer(interval=10.0)(refresh_suspensions)


def exit_worker(what: str, exc: BaseException) -> NoReturn:
    """Log why and end the worker process now, non-zero, without acknowledging anything more."""
    log.critical("worker.exit", reason=what, error=f"{type(exc).__name__}: {exc}")
    logging.shutdown()
    os._exit(EXIT_STORE_UNAVAILABLE)


def _commit_watch(app: CityWatchApp) -> None:
    """Fetch a partition again when its commits wait for a lost record; end the worker if that does not help.

    See ``streams.transport``: faust cannot commit past an offset that was neither acknowledged nor
    is in flight. A partition found so at every check for ``REREAD_AFTER_S`` is fetched again from
    its committed offset; one still found so after ``COMMIT_STALL_S`` is reported and the worker
    exits, non-zero, like when the ticket store is gone (its restart reads the tail again).
    """
    since: dict[TP, float] = {}  # when each stalled partition was first found so
    reread: set[TP] = set()  # the stalled partitions fetched again from their committed offset

    async def watch_commits() -> None:
        consumer = app.consumer
        if not isinstance(consumer, Consumer) or app.rebalancing:
            return
        stalled, now = consumer.stalled(), asyncio.get_running_loop().time()
        for tp in [tp for tp in since if tp not in stalled]:
            del since[tp]
            reread.discard(tp)
        for tp, (committed, first_acked) in stalled.items():
            what = f"{tp.topic}[{tp.partition}] committed {committed}, acknowledged from {first_acked}"
            waited = now - since.setdefault(tp, now)
            if waited >= COMMIT_STALL_S:
                exit_worker("commits stalled", RuntimeError(what))
            if waited >= REREAD_AFTER_S and tp not in reread:
                reread.add(tp)
                log.warning("commits.reread", partition=what)
                await consumer.reread(tp, committed)

    app.timer(interval=10.0)(watch_commits)


def _health_page(app: CityWatchApp) -> None:
    """Serve /healthz: tables recovered, not rebalancing, ticket store writable (503 otherwise)."""

    async def healthz(web: Any, request: Any) -> Any:
        store = app.sink_health.get("store")
        checks = {
            "recovered": not app.in_recovery,
            "assigned": not app.rebalancing,
            "store": store is not None and store.failing_since_ms is None,
        }
        return web.json({"ok": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503)

    app.page("/healthz")(healthz)
