"""The faust-streaming app of the stack: ``faust -A streams.app worker``.

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
No rule logic lives here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import faust
import structlog
from faust.streams import _current_event

from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from devices.catalog import ALERTS, ALERTS_RAW, DEADLETTER, EVENT_STREAMS, FACTS
from devices.inventory import load_city
from rules.engine import Engine, Outcome
from streams.codec import decode_alert, encode_alert, encode_fact
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
from streams.topics import ensure_topics

log = structlog.get_logger("streams.app")
settings = Settings()
engine = Engine(load_city(settings.city_dir))
settings.faust_data_dir.mkdir(parents=True, exist_ok=True)


class CityWatchApp(faust.App):
    """The faust app, which makes sure its source topics exist before it subscribes."""

    async def on_first_start(self) -> None:
        """Create missing topics, then start as faust does."""
        await ensure_topics(
            settings.kafka_bootstrap, settings.topic_prefix, settings.kafka_partitions, settings.kafka_replication
        )
        await super().on_first_start()


app = CityWatchApp(
    settings.faust_app_id,
    broker=f"kafka://{settings.kafka_bootstrap}",
    store="memory://",
    topic_partitions=settings.kafka_partitions,
    web_port=settings.faust_web_port,
    web_host=settings.faust_web_host,
    datadir=str(settings.faust_data_dir / settings.faust_app_id),
    producer_acks=-1,
    topic_disable_leader=True,
    broker_session_timeout=settings.faust_session_timeout_s,  # a killed worker's partitions move on in seconds
    broker_heartbeat_interval=min(3.0, settings.faust_session_timeout_s / 3),
    consumer_max_fetch_size=4 * 1024 * 1024,  # per partition: a restore reads the changelogs 2x faster than at 1 MiB
)
CHANGELOG_CONFIG = {  # roll and compact changelog segments often, so a restore reads ~one record per key, not history
    "segment.ms": str(10 * 60_000),
    "min.cleanable.dirty.ratio": "0.1",
}
alerts_topic = app.topic(settings.topic(ALERTS), key_serializer="raw", value_serializer="raw")
alerts_raw_topic = app.topic(settings.topic(ALERTS_RAW), key_serializer="raw", value_serializer="raw")
facts_topic = app.topic(settings.topic(FACTS), key_serializer="raw", value_serializer="raw", partitions=1)
deadletter_topic = app.topic(settings.topic(DEADLETTER), key_serializer="raw", value_serializer="raw")


def in_event_context(event: faust.types.EventT) -> None:
    """Make an event of a ``take_events`` batch the stream's current event, as ``async for`` does.

    faust tables find the changelog partition of a write from the current event; a batch leaves
    it unset. This sets faust's own context variable (faust-streaming is pinned, see pyproject).
    """
    _current_event.set(weakref.ref(event))


async def forward(outcome: Outcome) -> None:
    """Send an outcome's facts to the facts topic and its alerts on to fusion."""
    for fact in outcome.facts:
        await facts_topic.send(key=fact.key.encode(), value=encode_fact(fact))
    for alert in outcome.alerts:
        await alerts_raw_topic.send(key=engine.fusion_key(alert).encode(), value=encode_alert(alert))


def _rule_agent(stream_name: str) -> None:
    """Declare the agent and state table that run the rules over one event stream."""
    source = app.topic(settings.topic(stream_name), key_serializer="raw", value_serializer="raw")
    devices = app.Table(
        f"state-{stream_name}",
        key_type=bytes,  # raw keys (device id), JSON values
        extra_topic_configs=CHANGELOG_CONFIG,
    )
    watermarks: dict[int, Watermark] = defaultdict(Watermark)  # event time of each partition

    async def run_rules(stream: AsyncIterator[Any]) -> None:
        batches = stream.take_events(settings.rules_batch_size, within=settings.rules_batch_within_s)  # type: ignore[attr-defined]
        async for events in batches:  # acked once the whole batch is done
            records = [Record(e.message.partition, e.key, e.value) for e in events]
            for event, prepared in zip(events, prepare(engine, stream_name, records), strict=True):
                in_event_context(event)  # table writes go to the changelog partition of this event
                for result in step_prepared(
                    engine,
                    devices,
                    stream_name,
                    prepared,
                    watermarks[event.message.partition],
                    settings.kafka_partitions,
                ):
                    if isinstance(result, StepFailed):
                        await deadletter_topic.send(key=result.key, value=result.record())
                    else:
                        await forward(result)

    app.agent(source, name=f"rules-{stream_name}")(run_rules)


for _stream in EVENT_STREAMS:
    _rule_agent(_stream)

key_table = app.Table("state-facts", partitions=1, key_type=bytes, extra_topic_configs=CHANGELOG_CONFIG)
fusion_table = app.Table("state-fusion", key_type=bytes, extra_topic_configs=CHANGELOG_CONFIG)


@app.agent(facts_topic, name="keyed-rules")
async def keyed_rules(stream: AsyncIterator[Any]) -> None:
    """Stage 2: facts (e.g. a collection point served) against the state of their key."""
    async for key, value in stream.items():  # type: ignore[attr-defined]
        try:
            await forward(step_fact(engine, key_table, key, value))
        except StepFailed as exc:
            await deadletter_topic.send(key=key, value=exc.record())


@app.agent(alerts_raw_topic, name="fusion")
async def fusion(stream: AsyncIterator[Any]) -> None:
    """Stage 3: alerts of one real-world violation become one, then go to the alerts topic."""
    async for key, value in stream.items():  # type: ignore[attr-defined]
        try:
            alerts = step_fusion(engine, fusion_table, key, value)
        except StepFailed as exc:
            await deadletter_topic.send(key=key, value=exc.record())
            continue
        for alert in alerts:
            await alerts_topic.send(key=alert.alert_id.encode(), value=encode_alert(alert))


add_influx_agents(app, settings, engine.city)  # InfluxDB sink agents, only if CITYWATCH_INFLUX_URL is set


@app.agent(alerts_topic, name="ticket-sink")
async def ticket_sink(stream: AsyncIterator[Any]) -> None:
    """Apply alerts to the ticket store in batches, off the event loop (the store opens when the agent starts).

    A batch is acknowledged to Kafka only after the store committed it. If the database stays away
    longer than ``CITYWATCH_STORE_RETRY_S`` the worker exits at once, non-zero, before faust can
    acknowledge the batch: its restart (compose: ``restart: unless-stopped``) reads it again.
    """
    try:
        store = await asyncio.to_thread(open_store, settings, engine.city)  # SQLite or PostgreSQL
    except Exception as exc:
        exit_worker("ticket store cannot be opened", exc)
    store.retry_s = settings.store_retry_s
    sink_health["store"] = store
    try:
        async for values in stream.take(500, within=0.5):  # type: ignore[attr-defined]
            alerts = [decode_alert(v) for v in values]
            try:
                await asyncio.to_thread(store.apply, alerts)
            except Exception as exc:
                exit_worker("ticket store unavailable", exc)
    finally:
        store.close()


sink_health: dict[str, Any] = {}  # the ticket store, once the sink agent opened it


@app.timer(interval=10.0)
async def refresh_suspensions() -> None:
    """Give the rules the companies suspended now (退出机制: their trucks must not drive), from the store."""
    store = sink_health.get("store")
    if store is not None:
        try:
            engine.set_suspended(await asyncio.to_thread(store.suspended_companies))
        except Exception as exc:
            log.warning("suspensions.unavailable", error=str(exc)[:200])


def exit_worker(what: str, exc: BaseException) -> NoReturn:
    """Log why and end the worker process now, non-zero, without acknowledging anything more."""
    log.critical("worker.exit", reason=what, error=f"{type(exc).__name__}: {exc}")
    logging.shutdown()
    os._exit(EXIT_STORE_UNAVAILABLE)


EXIT_STORE_UNAVAILABLE = 75  # EX_TEMPFAIL: try again later


@app.page("/healthz")
async def healthz(web: Any, request: Any) -> Any:
    """Report readiness: tables recovered, not rebalancing, ticket store writable (503 otherwise)."""
    store = sink_health.get("store")
    checks = {
        "recovered": not app.in_recovery,
        "assigned": not app.rebalancing,
        "store": store is not None and store.failing_since_ms is None,
    }
    return web.json({"ok": all(checks.values()), **checks}, status=200 if all(checks.values()) else 503)
