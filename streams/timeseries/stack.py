"""The stack's InfluxDB sink: one faust agent per event topic and one for the alerts topic.

The agents share one writer per worker. They wait at most ``influx_enqueue_timeout_s`` for room
in its bounded buffer (the rule agents read the same topics, so a stuck sink must not hold
them back for long), then drop the batch and count it; the writer logs every drop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import faust
import structlog
from faust.types import StreamT

from devices.catalog import ALERTS, EVENT_STREAMS, decode_event, is_watermark
from devices.inventory import City
from streams.codec import decode_alert
from streams.timeseries.schema import Tagger, alert_lines, event_lines
from streams.timeseries.writer import InfluxConfig, TimeSeriesWriter

log = structlog.get_logger("streams.timeseries")
AgentFun = Callable[[StreamT[Any]], Coroutine[Any, Any, None]]


class SharedWriter:
    """One writer for all sink agents of a worker: opened by the first, closed by the last."""

    def __init__(self, config: InfluxConfig) -> None:
        self.config = config
        self.writer: TimeSeriesWriter | None = None
        self.users = 0

    def acquire(self) -> TimeSeriesWriter:
        """Return the writer, opening it for the first agent."""
        if self.writer is None:
            self.writer = TimeSeriesWriter(self.config)
        self.users += 1
        return self.writer

    async def release(self) -> None:
        """Let go of the writer; the last agent closes it (in a thread: closing flushes)."""
        self.users -= 1
        if self.users == 0 and self.writer is not None:
            writer, self.writer = self.writer, None
            await asyncio.to_thread(writer.close)


def records_to_lines(stream: str, values: list[bytes], tagger: Tagger) -> list[str]:
    """Decode one topic's records into line protocol; log and skip what does not decode."""
    lines: list[str] = []
    for value in values:
        try:
            if stream == ALERTS:
                lines += alert_lines([decode_alert(value)], tagger)
            else:
                lines += event_lines([decode_event(stream, value)], tagger)
        except Exception as exc:
            log.warning("influx.undecodable_record", stream=stream, error=f"{type(exc).__name__}: {exc}"[:300])
    return lines


async def enqueue(writer: TimeSeriesWriter, lines: list[str], timeout: float) -> bool:  # noqa: ASYNC109
    """Wait up to timeout for room without blocking the event loop, then offer (drops if still full)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not writer.has_room(len(lines)) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # room frees on the writer's thread, which cannot set an asyncio event cheaply
    return writer.offer(lines)


def sink_agent(stream: str, shared: SharedWriter, tagger: Tagger, timeout: float) -> AgentFun:
    """Return the agent function that writes one topic's records to InfluxDB."""

    async def influx_sink(records: StreamT[Any]) -> None:
        writer = shared.acquire()
        try:
            async for events in records.take_events(shared.config.batch_size, within=1.0):  # type: ignore[attr-defined]  # not in StreamT
                values = [e.value for e in events if not is_watermark(e.key)]
                await enqueue(writer, records_to_lines(stream, values, tagger), timeout)
        finally:
            await shared.release()

    return influx_sink


def add_influx_agents(
    app: faust.App, config: InfluxConfig | None, city: City, topic: Callable[[str], str], enqueue_timeout_s: float
) -> tuple[SharedWriter, Tagger] | None:
    """Declare the sink agents of the event and alert topics when an InfluxDB is configured; return their
    shared writer (its stats are the worker's /metrics) and their tagger."""
    if config is None:
        return None
    shared, tagger = SharedWriter(config), Tagger(city)
    for stream in (*EVENT_STREAMS, ALERTS):
        source = app.topic(topic(stream), key_serializer="raw", value_serializer="raw")
        agent = sink_agent(stream, shared, tagger, enqueue_timeout_s)
        app.agent(source, name=f"influx-{stream}")(agent)
    return shared, tagger
