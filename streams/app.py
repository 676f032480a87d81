"""The faust-streaming app of the stack: ``faust -A streams.app worker``.

One agent per event stream runs the rule engine with per-device state in a faust table
(co-partitioned with its source: key = device id); alerts go to the ``alerts`` topic, and a
sink agent applies them to the ticket store. No rule logic lives here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import faust
import structlog

from citywatch.settings import Settings
from devices.inventory import load_city
from rules.engine import Engine
from streams.codec import decode_alert, decode_event, encode_alert
from streams.step import StepFailed, step_record
from streams.topics import ALERTS, DEADLETTER, EVENT_STREAMS, ensure_topics
from tickets.store import TicketStore

log = structlog.get_logger("streams.app")
settings = Settings()
engine = Engine(load_city(settings.city_dir))
settings.faust_data_dir.mkdir(parents=True, exist_ok=True)



class CityWatchApp(faust.App):
    """The faust app, which makes sure its source topics exist before it subscribes."""

    async def on_first_start(self) -> None:
        """Create missing topics, then start as faust does."""
        await ensure_topics(settings.kafka_bootstrap, settings.topic_prefix, settings.kafka_partitions,
                            settings.kafka_replication)
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
)
alerts_topic = app.topic(settings.topic(ALERTS), key_serializer="raw", value_serializer="raw")
deadletter_topic = app.topic(settings.topic(DEADLETTER), key_serializer="raw", value_serializer="raw")


def _rule_agent(stream_name: str) -> None:
    """Declare the agent and state table that run the rules over one event stream."""
    source = app.topic(settings.topic(stream_name), key_serializer="raw", value_serializer="raw")
    table = app.Table(f"state-{stream_name}")  # app defaults: raw keys, JSON values

    async def run_rules(stream: AsyncIterator[Any]) -> None:
        async for key, value in stream.items():  # type: ignore[attr-defined]
            try:
                alerts = step_record(engine, table, stream_name, key, value)
            except StepFailed as exc:
                await deadletter_topic.send(key=key, value=exc.record())
                continue
            for alert in alerts:
                await alerts_topic.send(key=alert.alert_id.encode(), value=encode_alert(alert))

    app.agent(source, name=f"rules-{stream_name}")(run_rules)


for _stream in EVENT_STREAMS:
    _rule_agent(_stream)



@app.agent(alerts_topic, name="ticket-sink")
async def ticket_sink(stream: AsyncIterator[Any]) -> None:
    """Apply alerts to the ticket store in batches (the store opens when the agent starts)."""
    store = TicketStore(settings.ticket_db)
    try:
        async for values in stream.take(500, within=0.5):  # type: ignore[attr-defined]
            store.apply([decode_alert(v) for v in values])
    finally:
        store.close()
