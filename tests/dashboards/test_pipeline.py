"""The pipeline-health board: every expression on the Prometheus datasource, over the agreed metric names."""

from __future__ import annotations

import re
from typing import Any

from dashboards.pipeline import JOBS, METRICS, PROM, pipeline_board, quantile, rate

BOARD = pipeline_board()
PANELS = [p for p in BOARD["panels"] if p["type"] != "row"]
TARGETS = [t for p in PANELS for t in p["targets"]]
NAME = re.compile(r"\b(?:citywatch|faust|process)_[a-z0-9_]+|\bup\b")


def names(expr: str) -> list[str]:
    """Return the metric names an expression reads (a histogram's series by its base name)."""
    return [re.sub(r"_(bucket|sum|count)$", "", n) for n in NAME.findall(expr)]


def by_panel(title: str) -> dict[str, Any]:
    return next(p for p in PANELS if p["title"] == title)


def test_every_target_runs_promql_on_the_prometheus_datasource() -> None:
    assert BOARD["uid"] == "cw-pipeline" and BOARD["templating"]["list"] == []
    assert all(t["datasource"] == PROM and t["expr"] and "query" not in t for t in TARGETS)
    assert all(p["datasource"] == PROM for p in PANELS)


def test_expressions_use_the_agreed_metrics_and_use_all_of_them() -> None:
    used = [n for t in TARGETS for n in names(t["expr"])]
    assert set(used) <= set(METRICS), set(used) - set(METRICS)
    assert set(used) == set(METRICS)


def test_counters_are_rated_histograms_read_by_bucket_and_gauges_read_as_they_are() -> None:
    for t in TARGETS:
        expr = t["expr"]
        for name in NAME.findall(expr):
            kind = METRICS[re.sub(r"_bucket$", "", name)]
            if kind == "counter":
                assert f"rate({name}[$__rate_interval])" in expr, expr
            elif kind == "histogram":
                assert name.endswith("_bucket") and expr.startswith("histogram_quantile("), expr
            else:
                assert f"rate({name}" not in expr, expr


def test_legends_name_only_labels_the_expression_keeps() -> None:
    for t in TARGETS:
        kept = (
            set(re.findall(r"by \(([^)]*)\)", t["expr"])[0].replace(" ", "").split(","))
            if " by (" in t["expr"]
            else set()
        )
        kept |= {"instance"} if NAME.fullmatch(t["expr"]) else set()  # a bare gauge keeps its labels
        assert set(re.findall(r"\{\{(\w+)\}\}", t["legendFormat"])) <= kept, t


def test_there_is_an_up_panel_per_job() -> None:
    ups = {t["expr"] for p in PANELS for t in p["targets"] if "up{" in t["expr"]}
    assert ups == {f'sum(up{{job="{job}"}})' for job in JOBS}
    assert JOBS == ("ingest", "gateway", "worker", "tickets", "sim")


def test_the_asked_for_panels_are_there_with_chinese_titles_and_english_descriptions() -> None:
    wanted = {
        "采集接收与接受速率": ["citywatch_ingest_received_total", "citywatch_ingest_accepted_total"],
        "死信（按原因）": ["citywatch_ingest_deadlettered_total"],
        "采集队列深度": ["citywatch_ingest_queue_depth"],
        "批处理耗时 p50 / p99": ["citywatch_ingest_batch_seconds"],
        "网关连接数": ["citywatch_gateway_connections"],
        "网关帧（按消息类型）": ["citywatch_gateway_frames_total"],
        "网关错误（按原因）": ["citywatch_gateway_refused_total"],
        "流处理事件速率": ["citywatch_worker_events_total"],
        "告警（按规则）": ["citywatch_worker_alerts_total"],
        "消费延迟（按分区）": ["citywatch_worker_partition_lag"],
        "状态表键数": ["citywatch_worker_state_keys"],
        "InfluxDB 写入：排队 / 写入 / 丢弃": [
            "citywatch_influx_points_pending",
            "citywatch_influx_points_dropped_total",
        ],
        "案件（按阶段）": ["citywatch_cases"],
        "超期案件": ["citywatch_cases_overdue"],
        "发件箱积压": ["citywatch_outbox_pending"],
        "通知积压（按渠道）": ["citywatch_notify_backlog"],
        "HTTP 延迟 p99（按路由）": ["citywatch_http_request_seconds"],
    }
    for title, metrics in wanted.items():
        read = {n for t in by_panel(title)["targets"] for n in names(t["expr"])}
        assert set(metrics) <= read, title
    assert all(re.search(r"[\u4e00-\u9fff]", p["title"]) and re.match(r"[A-Z0-9]", p["description"]) for p in PANELS)


def test_quantiles_and_rates_are_spelled_as_promql_wants() -> None:
    assert rate("m_total") == "sum(rate(m_total[$__rate_interval]))"
    assert rate("m_total", "reason") == "sum by (reason) (rate(m_total[$__rate_interval]))"
    assert (
        quantile(0.99, "h", "route")
        == "histogram_quantile(0.99, sum by (le, route) (rate(h_bucket[$__rate_interval])))"
    )
