"""The pipeline's own health board: ingest, gateway, workers, InfluxDB writer and tickets, from Prometheus.

Every process serves ``/metrics`` (prometheus-client; faust workers on their web port) and Prometheus
scrapes them as the jobs of ``JOBS``; Grafana reads Prometheus through the provisioned datasource
``citywatch-prometheus`` (``provisioning/datasources/prometheus.yaml``). ``METRICS`` is the catalogue
the panels may use; a test checks every expression against it, so a renamed metric fails here.
"""

from __future__ import annotations

from dashboards.panels import Json, dashboard, panel, row, thresholds

PROMETHEUS_UID = "citywatch-prometheus"
PROMETHEUS_URL = "http://prometheus:9090"  # as Grafana's server reaches it in compose
PROM: dict[str, str] = {"type": "prometheus", "uid": PROMETHEUS_UID}
JOBS = ("ingest", "gateway", "worker", "tickets", "sim")
RATE = "[$__rate_interval]"
METRICS: dict[str, str] = {
    "citywatch_ingest_received_total": "counter",
    "citywatch_ingest_accepted_total": "counter",
    "citywatch_ingest_deadlettered_total": "counter",  # {reason}
    "citywatch_ingest_queue_depth": "gauge",
    "citywatch_ingest_batch_seconds": "histogram",
    "citywatch_ingest_mqtt_connected": "gauge",
    "citywatch_gateway_connections": "gauge",
    "citywatch_gateway_connections_accepted_total": "counter",
    "citywatch_gateway_frames_total": "counter",  # {message}, e.g. message="0x0200"
    "citywatch_gateway_refused_total": "counter",  # {reason}
    "citywatch_gateway_published_total": "counter",
    "citywatch_worker_events_total": "counter",  # {stage}
    "citywatch_worker_alerts_total": "counter",  # {rule}
    "citywatch_worker_state_keys": "gauge",  # {table}
    "citywatch_worker_partition_lag": "gauge",  # {topic, partition}
    "faust_messages_received_total": "counter",  # faust's own sensor
    "citywatch_influx_points_pending": "gauge",
    "citywatch_influx_points_written_total": "counter",
    "citywatch_influx_points_dropped_total": "counter",
    "citywatch_influx_points_rejected_total": "counter",
    "citywatch_cases": "gauge",  # {stage}
    "citywatch_cases_overdue": "gauge",
    "citywatch_outbox_pending": "gauge",
    "citywatch_notify_backlog": "gauge",  # {channel}
    "citywatch_notify_sent_total": "counter",  # {channel}
    "citywatch_notify_failed_total": "counter",  # {channel}
    "citywatch_http_request_seconds": "histogram",  # {method, route, status}
    "process_resident_memory_bytes": "gauge",
    "process_cpu_seconds_total": "counter",
    "up": "gauge",  # {job}, Prometheus's own
}


def prom(expr: str, legend: str, ref: str = "A") -> Json:
    """Return a Prometheus range-query target with its legend."""
    return {"refId": ref, "datasource": PROM, "expr": expr, "legendFormat": legend, "range": True}


def rate(metric: str, by: str = "") -> str:
    """Return the per-second rate of a counter summed over instances (by some labels)."""
    return f"sum by ({by}) (rate({metric}{RATE}))" if by else f"sum(rate({metric}{RATE}))"


def quantile(q: float, metric: str, by: str = "") -> str:
    """Return a quantile of a histogram over every instance (by some labels)."""
    return f"histogram_quantile({q}, sum by (le{f', {by}' if by else ''}) (rate({metric}_bucket{RATE})))"


def _targets(*pairs: tuple[str, str]) -> list[Json]:
    return [prom(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(pairs)]


def series(
    pid: int, title: str, pos: tuple[int, int, int, int], about: str, unit: str, *pairs: tuple[str, str]
) -> Json:
    """Return a time-series panel of (expression, legend) pairs."""
    custom = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    return panel(pid, title, "timeseries", pos, _targets(*pairs), {"unit": unit, "custom": custom}, description=about)


def stat(pid: int, title: str, pos: tuple[int, int, int, int], about: str, expr: str, steps: Json) -> Json:
    """Return a single-value panel coloured by thresholds."""
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "value",
    }
    defaults = {"unit": "none", "color": {"mode": "thresholds"}, "thresholds": steps, "noValue": "—"}
    return panel(pid, title, "stat", pos, [prom(expr, "")], defaults, options, description=about)


UP_STEPS = thresholds((None, "red"), (1.0, "green"))
ZERO_OK = thresholds((None, "green"), (1.0, "red"))
NAMES = {"ingest": "采集", "gateway": "网关", "worker": "流处理", "tickets": "工单服务", "sim": "模拟器"}


def up_row(y: int) -> list[Json]:
    """Return the status row: one 'up' panel per job, and ingest's MQTT connection."""
    panels = [
        stat(
            10 + i,
            f"{NAMES[job]}在线实例",
            (i * 4, y, 4, 4),
            f'Instances of job {job} whose last scrape succeeded: sum(up{{job="{job}"}}); red: none.',
            f'sum(up{{job="{job}"}})',
            UP_STEPS,
        )
        for i, job in enumerate(JOBS)
    ]
    mqtt = "Ingest processes connected to the MQTT broker now (citywatch_ingest_mqtt_connected)."
    return [*panels, stat(15, "采集 MQTT 连接", (20, y, 4, 4), mqtt, "sum(citywatch_ingest_mqtt_connected)", UP_STEPS)]


def ingest_row(y: int) -> list[Json]:
    """Return the ingest panels: throughput, dead letters, queue, batch latency."""
    return [
        series(
            20,
            "采集接收与接受速率",
            (0, y, 8, 8),
            "Messages received from MQTT and accepted by validation, per second.",
            "mps",
            (rate("citywatch_ingest_received_total"), "接收 received"),
            (rate("citywatch_ingest_accepted_total"), "接受 accepted"),
        ),
        series(
            21,
            "死信（按原因）",
            (8, y, 8, 8),
            "Messages dead-lettered by ingest, per second, by reason (oversize, schema, unknown_device, ...).",
            "mps",
            (rate("citywatch_ingest_deadlettered_total", "reason"), "{{reason}}"),
        ),
        series(
            22,
            "采集队列深度",
            (16, y, 8, 8),
            "Messages queued in each ingest process between the MQTT callback and the pipeline thread.",
            "short",
            ("citywatch_ingest_queue_depth", "{{instance}}"),
        ),
        series(
            23,
            "批处理耗时 p50 / p99",
            (0, y + 8, 24, 7),
            "Time ingest takes to validate and forward one batch (histogram citywatch_ingest_batch_seconds).",
            "s",
            (quantile(0.5, "citywatch_ingest_batch_seconds"), "p50"),
            (quantile(0.99, "citywatch_ingest_batch_seconds"), "p99"),
        ),
    ]


def gateway_row(y: int) -> list[Json]:
    """Return the JT/T 808 gateway panels: connections, frames by message id, refusals."""
    return [
        series(
            30,
            "网关连接数",
            (0, y, 8, 8),
            "Terminal connections open now, and new connections accepted per second.",
            "short",
            ("sum(citywatch_gateway_connections)", "在线 open"),
            (rate("citywatch_gateway_connections_accepted_total"), "新建/秒 accepted per s"),
        ),
        series(
            31,
            "网关帧（按消息类型）",
            (8, y, 8, 8),
            "JT/T 808 frames per second by message (LocationReport 0x0200, Heartbeat 0x0002, Authenticate, ...), "
            "and contract messages published to MQTT.",
            "mps",
            (rate("citywatch_gateway_frames_total", "message"), "{{message}}"),
            (rate("citywatch_gateway_published_total"), "已发布 published"),
        ),
        series(
            32,
            "网关错误（按原因）",
            (16, y, 8, 8),
            "Frames or connections the gateway refused, per second, by reason.",
            "mps",
            (rate("citywatch_gateway_refused_total", "reason"), "{{reason}}"),
        ),
    ]


def worker_row(y: int) -> list[Json]:
    """Return the stream-worker panels: events, alerts, consumer lag, state tables."""
    return [
        series(
            40,
            "流处理事件速率",
            (0, y, 8, 8),
            "Events the rule workers processed per second, by stage; and faust's own received count "
            "(with CITYWATCH_FAUST_PROMETHEUS=true).",
            "eps",
            (rate("citywatch_worker_events_total", "stage"), "{{stage}}"),
            (rate("faust_messages_received_total"), "faust received"),
        ),
        series(
            41,
            "告警（按规则）",
            (8, y, 8, 8),
            "Alerts raised by the rules per second, by rule.",
            "short",
            (rate("citywatch_worker_alerts_total", "rule"), "{{rule}}"),
        ),
        series(
            42,
            "消费延迟（按分区）",
            (16, y, 8, 8),
            "Records not yet processed, per Kafka topic and partition (citywatch_worker_partition_lag).",
            "short",
            ("max by (topic, partition) (citywatch_worker_partition_lag)", "{{topic}}/{{partition}}"),
        ),
        series(
            43,
            "状态表键数",
            (0, y + 8, 12, 7),
            "Keys in each faust table of rule state, over every worker.",
            "short",
            ("sum by (table) (citywatch_worker_state_keys)", "{{table}}"),
        ),
        series(
            44,
            "InfluxDB 写入：排队 / 写入 / 丢弃",
            (12, y + 8, 12, 7),
            "Points buffered for InfluxDB now (workers and embedded ingest), and points written, dropped "
            "(buffer full) and rejected (4xx) per second.",
            "short",
            ("sum(citywatch_influx_points_pending)", "排队 queued"),
            (rate("citywatch_influx_points_written_total"), "写入/秒 written per s"),
            (rate("citywatch_influx_points_dropped_total"), "丢弃/秒 dropped per s"),
            (rate("citywatch_influx_points_rejected_total"), "拒绝/秒 rejected per s"),
        ),
    ]


def _cases(pid: int, pos: tuple[int, int, int, int]) -> Json:
    """Return the open cases by stage as horizontal bars."""
    options = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "displayMode": "gradient",
        "orientation": "horizontal",
    }
    about = "Cases in each stage of the 数字城管 lifecycle now (citywatch_cases{stage})."
    targets = [prom("sum by (stage) (citywatch_cases)", "{{stage}}")]
    return panel(
        pid, "案件（按阶段）", "bargauge", pos, targets, {"unit": "short", "min": 0}, options, description=about
    )


def tickets_row(y: int) -> list[Json]:
    """Return the ticket-service panels: cases, overdue, outbox, notifications, HTTP latency."""
    overdue = "Open cases past their deadline now (citywatch_cases_overdue); red from one."
    outbox = "Case events written to the outbox and not yet sent on (citywatch_outbox_pending)."
    return [
        _cases(50, (0, y, 8, 8)),
        stat(51, "超期案件", (8, y, 4, 4), overdue, "sum(citywatch_cases_overdue)", ZERO_OK),
        stat(52, "发件箱积压", (8, y + 4, 4, 4), outbox, "sum(citywatch_outbox_pending)", ZERO_OK),
        series(
            53,
            "通知积压（按渠道）",
            (12, y, 12, 8),
            "Notifications waiting to be sent, by channel.",
            "short",
            ("sum by (channel) (citywatch_notify_backlog)", "{{channel}}"),
        ),
        series(
            54,
            "通知发送与失败",
            (0, y + 8, 12, 7),
            "Notifications sent and failed per second, by channel.",
            "short",
            (rate("citywatch_notify_sent_total", "channel"), "已发送 sent {{channel}}"),
            (rate("citywatch_notify_failed_total", "channel"), "失败 failed {{channel}}"),
        ),
        series(
            55,
            "HTTP 延迟 p99（按路由）",
            (12, y + 8, 12, 7),
            "99th percentile of the ticket API's request time by route (citywatch_http_request_seconds).",
            "s",
            (quantile(0.99, "citywatch_http_request_seconds", "route"), "{{route}}"),
        ),
    ]


def process_row(y: int) -> list[Json]:
    """Return memory and CPU of every process, by job."""
    return [
        series(
            60,
            "进程常驻内存",
            (0, y, 12, 7),
            "Resident memory of each process (process_resident_memory_bytes).",
            "bytes",
            ("sum by (job) (process_resident_memory_bytes)", "{{job}}"),
        ),
        series(
            61,
            "进程 CPU",
            (12, y, 12, 7),
            "CPU time per second of each job's processes: 1 = one core busy.",
            "percentunit",
            (rate("process_cpu_seconds_total", "job"), "{{job}}"),
        ),
    ]


def pipeline_board() -> Json:
    """Return the pipeline-health dashboard (uid cw-pipeline) on the Prometheus datasource."""
    panels = [
        row(1, "运行状态", 0),
        *up_row(1),
        row(2, "采集 ingest", 5),
        *ingest_row(6),
        row(3, "网关 JT/T 808 gateway", 21),
        *gateway_row(22),
        row(4, "流处理与写入 workers, InfluxDB", 30),
        *worker_row(31),
        row(5, "工单服务 tickets", 46),
        *tickets_row(47),
        row(6, "进程 processes", 62),
        *process_row(63),
    ]
    return dashboard("cw-pipeline", "Citywatch · Pipeline health 管道运行状况", panels, [], "now-1h", "30s")
