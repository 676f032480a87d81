"""The small typed configs the rooms take, made from the one Settings object (only citywatch/ reads it)."""

from __future__ import annotations

from citywatch.settings import Settings
from streams.app import WorkerConfig
from streams.timeseries.writer import InfluxConfig


def influx_config(settings: Settings) -> InfluxConfig | None:
    """Return where and how to write time series, or None when no CITYWATCH_INFLUX_URL is set."""
    if not settings.influx_url:
        return None
    return InfluxConfig(
        url=settings.influx_url,
        token=settings.influx_token.get_secret_value(),
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        batch_size=settings.influx_batch_size,
        flush_interval_ms=settings.influx_flush_interval_ms,
        max_pending=settings.influx_max_pending,
        retry_interval_ms=settings.influx_retry_interval_ms,
        max_retry_delay_ms=settings.influx_max_retry_delay_ms,
        max_retry_time_ms=settings.influx_max_retry_time_ms,
        timeout_ms=settings.influx_timeout_ms,
    )


def worker_config(settings: Settings) -> WorkerConfig:
    """Return the config of a stream worker of the stack."""
    return WorkerConfig(
        app_id=settings.faust_app_id,
        kafka_bootstrap=settings.kafka_bootstrap,
        topic_prefix=settings.topic_prefix,
        partitions=settings.kafka_partitions,
        replication=settings.kafka_replication,
        web_host=settings.faust_web_host,
        web_port=settings.faust_web_port,
        data_dir=settings.faust_data_dir,
        session_timeout_s=settings.faust_session_timeout_s,
        standby_replicas=settings.faust_standby_replicas,
        rules_batch_size=settings.rules_batch_size,
        rules_batch_within_s=settings.rules_batch_within_s,
        store_retry_s=settings.store_retry_s,
        influx_enqueue_timeout_s=settings.influx_enqueue_timeout_s,
        influx=influx_config(settings),
    )
