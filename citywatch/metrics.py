"""Prometheus metrics of every long-running process, read from the counters the rooms already keep.

Each process has its own registry (process, platform and GC metrics included) and adds a collector
for what it runs; a collector reads the live counters at scrape time, so the hot paths pay nothing.
Only latencies are observed as they happen (histograms). ``/metrics`` serves
``exposition(registry)``: on the health server of ingest, the gateway and the simulator, on faust's
web server for a worker, on the API port for the ticket service.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from gateway.server import Gateway
    from ingest.service import IngestService
    from streams.timeseries.writer import TimeSeriesWriter

CONTENT_TYPE = CONTENT_TYPE_LATEST
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def new_registry() -> CollectorRegistry:
    """Return a registry with the process's own metrics (CPU, memory, open files, GC, Python version)."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """Return the registry in Prometheus's text format."""
    return generate_latest(registry)


class FromCounters(Collector):
    """A collector whose metrics a function builds from live counters at every scrape."""

    def __init__(self, build: Callable[[], Iterable[Metric]]) -> None:
        self._build = build

    def collect(self) -> Iterable[Metric]:
        """Return the metrics as they are now; a failing source yields none rather than a failed scrape."""
        try:
            return list(self._build())
        except Exception:  # a half-started part: the next scrape sees it
            return []


def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    """Return a counter without labels (``name`` without ``_total``: the client adds it)."""
    return CounterMetricFamily(name, doc, value=value)


def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    """Return a gauge without labels."""
    return GaugeMetricFamily(name, doc, value=value)


def labelled(
    kind: type[CounterMetricFamily | GaugeMetricFamily], name: str, doc: str, label: str, values: Mapping[str, float]
) -> Metric:
    """Return a counter or gauge with one label, a sample per key."""
    family = kind(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], value)
    return family


def batch_histogram(registry: CollectorRegistry) -> Histogram:
    """Return ingest's batch latency histogram (validate, hand over, acknowledge), registered."""
    return Histogram(
        "citywatch_ingest_batch_seconds",
        "Time to validate a batch, hand it to the sink and acknowledge it",
        buckets=BATCH_BUCKETS,
        registry=registry,
    )


def ingest_metrics(service: IngestService) -> Iterator[Metric]:
    """Yield ingest's metrics: received, accepted, dead-lettered by reason, queue depth, MQTT connected."""
    stats = service.stats
    yield counter("citywatch_ingest_received", "Messages taken from MQTT", stats.received)
    yield counter("citywatch_ingest_accepted", "Messages that passed validation", stats.accepted)
    yield labelled(
        CounterMetricFamily,
        "citywatch_ingest_deadlettered",
        "Messages sent to the dead-letter stream, by reason",
        "reason",
        dict(stats.rejected),
    )
    yield gauge("citywatch_ingest_queue_depth", "Messages received but not yet taken", service.source.queued())
    yield gauge("citywatch_ingest_mqtt_connected", "1 while connected to the broker", int(service.source.connected))


def writer_metrics(writer: TimeSeriesWriter | None) -> Iterator[Metric]:
    """Yield the InfluxDB writer's metrics (lines = points): pending, written, dropped, refused."""
    if writer is None:
        return
    s = writer.stats
    yield gauge("citywatch_influx_points_pending", "Points queued for InfluxDB, not yet written", s.pending)
    yield counter("citywatch_influx_points_written", "Points InfluxDB took", s.written)
    yield counter("citywatch_influx_points_dropped", "Points dropped because the queue was full", s.dropped)
    yield counter("citywatch_influx_points_rejected", "Points InfluxDB refused for good (bad data, auth)", s.rejected)
    yield counter("citywatch_influx_write_retries", "Write requests retried", s.retries)


def gateway_metrics(gateway: Gateway, mqtt_connected: bool) -> Iterator[Metric]:
    """Yield the JT/T 808 gateway's metrics: connections, frames by message, refusals by reason, published."""
    s = gateway.stats
    yield gauge("citywatch_gateway_connections", "Terminal connections open now", s.connections)
    yield counter("citywatch_gateway_connections_accepted", "Terminal connections accepted", s.accepted)
    yield labelled(
        CounterMetricFamily, "citywatch_gateway_frames", "Frames handled, by message", "message", dict(s.frames)
    )
    yield labelled(
        CounterMetricFamily,
        "citywatch_gateway_refused",
        "Frames or connections refused, by reason",
        "reason",
        s.refused,
    )
    yield counter("citywatch_gateway_published", "Contract messages published to MQTT", s.published)
    yield gauge("citywatch_gateway_mqtt_connected", "1 while connected to the broker", int(mqtt_connected))


def worker_metrics(app: Any) -> Iterator[Metric]:
    """Yield a stream worker's metrics: events by stream, alerts by rule, state keys by table, lag, writer."""
    yield labelled(
        CounterMetricFamily,
        "citywatch_worker_events",
        "Events the rule agents took, by source stream",
        "stage",
        app.counters.events,
    )
    yield labelled(
        CounterMetricFamily, "citywatch_worker_alerts", "Alerts after fusion, by rule", "rule", app.counters.alerts
    )
    yield labelled(
        GaugeMetricFamily,
        "citywatch_worker_state_keys",
        "Keys held in each state table (this worker's partitions)",
        "table",
        {name: len(table) for name, table in app.tables.items()},
    )
    lag = GaugeMetricFamily(
        "citywatch_worker_partition_lag",
        "Records of an assigned partition after its last committed offset",
        labels=["topic", "partition"],
    )
    lags = (
        app.consumer.lag() if hasattr(app.consumer, "lag") else {}
    )  # streams.transport.Consumer (no faust import here)
    for tp, behind in sorted(lags.items()):
        lag.add_metric([tp.topic, str(tp.partition)], behind)
    yield lag
    shared = app.sink_health.get("influx")
    yield from writer_metrics(shared.writer if shared is not None else None)


def ticket_metrics(store: Any, notifier: Any = None) -> Iterator[Metric]:
    """Yield the ticket service's metrics: cases by stage, overdue, outbox backlog, notifications by channel."""
    by_stage, overdue = store.case_gauges()
    yield labelled(GaugeMetricFamily, "citywatch_cases", "Cases in each stage", "stage", by_stage)
    yield gauge("citywatch_cases_overdue", "Open cases past their stage's deadline", overdue)
    yield gauge(
        "citywatch_outbox_pending", "Case events not yet delivered to the webhook", store.outbox_counts()["pending"]
    )
    if notifier is None:
        return
    yield labelled(
        GaugeMetricFamily,
        "citywatch_notify_backlog",
        "Case events a channel has still to handle",
        "channel",
        notifier.backlog(),
    )
    yield labelled(CounterMetricFamily, "citywatch_notify_sent", "Messages a channel took", "channel", notifier.sent)
    yield labelled(
        CounterMetricFamily, "citywatch_notify_failed", "Deliveries a channel refused", "channel", notifier.failed
    )


def serve_on_api(registry: CollectorRegistry) -> Callable[[Any], None]:
    """Return what adds ``GET /metrics`` and the request latency histogram to a FastAPI app."""
    from fastapi import Request, Response

    latency = Histogram(
        "citywatch_http_request_seconds",
        "Ticket API requests, by method, route and status",
        ["method", "route", "status"],
        registry=registry,
    )

    def extend(app: Any) -> None:
        @app.middleware("http")
        async def timed(request: Request, call_next: Callable[[Request], Any]) -> Response:
            started = time.perf_counter()
            response: Response = await call_next(request)
            route = getattr(request.scope.get("route"), "path", "unmatched")  # the template: /api/cases/{case_id}
            latency.labels(request.method, route, str(response.status_code)).observe(time.perf_counter() - started)
            return response

        @app.get("/metrics", include_in_schema=False)
        def metrics() -> Response:
            return Response(exposition(registry), media_type=CONTENT_TYPE)

    return extend


def sim_metrics(stats: Any, publisher: Any) -> Iterator[Metric]:
    """Yield the simulator's metrics: messages published by kind, acknowledged, reconnects, connected."""
    yield labelled(CounterMetricFamily, "citywatch_sim_published", "Messages published, by kind", "kind", stats.by_kind)
    yield counter("citywatch_sim_acked", "Messages the broker acknowledged", getattr(publisher, "acked", 0))
    yield counter("citywatch_sim_reconnects", "Connections re-established", getattr(publisher, "reconnects", 0))
    yield gauge("citywatch_sim_mqtt_connected", "1 while connected", int(bool(getattr(publisher, "connected", False))))


def runner_metrics(stats: Any) -> Iterator[Metric]:
    """Yield the embedded runner's metrics under the worker's names: events, duplicates, alerts by rule."""
    yield labelled(
        CounterMetricFamily, "citywatch_worker_events", "Events the rules took", "stage", {"all": stats.events}
    )
    yield counter("citywatch_worker_duplicates", "Events dropped as already seen", stats.duplicates)
    by_rule: Counter[str] = Counter()
    for key, n in stats.alerts.items():  # "rule:phase"
        by_rule[key.split(":")[0]] += n
    yield labelled(CounterMetricFamily, "citywatch_worker_alerts", "Alerts, by rule", "rule", by_rule)


def serve_metrics_page(app: Any, registry: CollectorRegistry) -> None:
    """Serve ``GET /metrics`` from a faust app's web server (what faust's own sensor does when it is on)."""

    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(exposition(registry), content_type=CONTENT_TYPE.split(";")[0])

    app.page("/metrics")(metrics)
