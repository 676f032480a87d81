"""The InfluxDB writer on the real InfluxDB: round trip, outage without loss, bounded buffer, bad data."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import pytest
from structlog.testing import capture_logs

from citywatch.broker import free_port
from devices.contracts import VehiclePosition
from devices.inventory import load_city
from streams.timeseries.tap import InfluxTap
from streams.timeseries.writer import InfluxConfig, TimeSeriesWriter
from tests.conftest import Influx
from tests.support import wait_for

pytestmark = pytest.mark.services
CITY = load_city(Path(__file__).resolve().parents[1] / "data" / "city_min")


def config(db: Influx, url: str | None = None, **over: object) -> InfluxConfig:
    base = InfluxConfig(
        url=url or db.url,
        token=db.token,
        org=db.org,
        bucket=db.bucket,
        batch_size=500,
        flush_interval_ms=50,
        retry_interval_ms=100,
        max_retry_delay_ms=400,
        max_retry_time_ms=1500,
        timeout_ms=2000,
        close_timeout_s=5.0,
    )
    return replace(base, **over)  # type: ignore[arg-type]


def lines(n: int, device: str = "d", start_ms: int | None = None) -> list[str]:
    t0 = start_ms or int(time.time() * 1000) - n
    return [f"probe,device_id={device}{i % 7} seq={i}i {t0 + i}" for i in range(n)]


def count(db: Influx, measurement: str = "probe") -> int:
    flux = (
        f'from(bucket: "{db.bucket}") |> range(start: -1d) |> filter(fn: (r) => r._measurement == '
        f'"{measurement}" and r._field == "seq") |> group() |> count()'
    )
    with InfluxConfig(db.url, db.token, db.org, db.bucket).client() as client:
        return sum(int(r.get_value()) for t in client.query_api().query(flux) for r in t.records)


@contextmanager
def forwarder(port: int, target_url: str) -> Iterator[None]:
    """Forward 127.0.0.1:port to the InfluxDB (InfluxDB 'coming back' on that port)."""
    target = urlparse(target_url)
    server = socket.create_server(("127.0.0.1", port))
    stop = threading.Event()

    def pipe(src: socket.socket, dst: socket.socket) -> None:
        with src, dst:
            while data := src.recv(65536):
                dst.sendall(data)

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            upstream = socket.create_connection((target.hostname, target.port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pipe, args=(a, b), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_round_trip_in_batches(influx_db: Influx) -> None:
    writer = TimeSeriesWriter(config(influx_db))
    for k in range(0, 5000, 250):
        assert writer.offer(lines(5000)[k : k + 250])
    assert writer.wait_idle(30)
    writer.close()
    assert (writer.stats.written, writer.stats.dropped, writer.stats.pending) == (5000, 0, 0)
    assert count(influx_db) == 5000


def test_outage_loses_nothing_and_recovers(influx_db: Influx) -> None:
    port = free_port()  # nothing listens here yet: InfluxDB is "down"
    with capture_logs() as logs:
        writer = TimeSeriesWriter(config(influx_db, url=f"http://127.0.0.1:{port}"))
        assert writer.offer(lines(1200))
        wait_for(lambda: writer.stats.requeued > 0, timeout=30, what="a batch to fail its retries and be queued again")
        assert writer.stats.pending == 1200 and writer.stats.written == 0
        with forwarder(port, influx_db.url):
            wait_for(lambda: writer.stats.written == 1200, timeout=60, what="the writer to catch up")
            writer.close()
    assert (writer.stats.dropped, writer.stats.rejected, writer.stats.lost_on_close) == (0, 0, 0)
    assert count(influx_db) == 1200
    events = [e["event"] for e in logs]
    assert "influx.write_failing" in events or "influx.write_retrying" in events
    assert "influx.recovered" in events


def test_bound_hit_drops_are_counted_and_logged_and_offer_never_blocks(influx_db: Influx) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with capture_logs() as logs:
        writer = TimeSeriesWriter(config(influx_db, url=dead, max_pending=100, close_timeout_s=1.0))
        tap = InfluxTap(writer, CITY)
        assert writer.offer(lines(60))
        started = time.monotonic()
        assert not writer.offer(lines(60))
        pos = VehiclePosition(
            device_id="gps-m1", ts_ms=int(time.time() * 1000), seq=1, lon=114.31, lat=30.59, speed_kmh=10, heading_deg=0
        )
        tap.on_batch([pos] * 50, [])  # 60 + 50 > 100: dropped at once
        assert time.monotonic() - started < 0.5
        tap.close()
    assert writer.stats.dropped == 110 and writer.stats.accepted == 60
    assert writer.stats.lost_on_close == 60 and writer.stats.pending == 0
    (drop_log,) = [e for e in logs if e["event"] == "influx.buffer_full_dropping"]  # once per log_every_s
    assert drop_log["log_level"] == "error" and drop_log["max_pending"] == 100
    assert any(e["event"] == "influx.write_lost_on_close" for e in logs)


def test_a_batch_still_retrying_at_close_is_counted_lost_not_left_pending(influx_db: Influx) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    slow_retry = {"retry_interval_ms": 30_000, "max_retry_delay_ms": 30_000, "max_retry_time_ms": 60_000}
    with capture_logs() as logs:
        writer = TimeSeriesWriter(config(influx_db, url=dead, close_timeout_s=0.5, **slow_retry))
        assert writer.offer(lines(40))
        assert wait_for(lambda: writer.stats.retries >= 1, 10)  # first attempt refused, the next one is 30 s away
        writer.close()  # its close wait ends long before that retry: the batch never calls back
    assert writer.stats.lost_on_close == 40 and writer.stats.pending == 0 and writer.stats.written == 0
    assert any(e["event"] == "influx.write_lost_on_close" and e.get("abandoned") for e in logs)


def test_bad_data_is_rejected_not_retried(influx_db: Influx) -> None:
    with capture_logs() as logs:
        writer = TimeSeriesWriter(config(influx_db))
        writer.offer(['probe,device_id=x seq=1i,seq="mixed" 1'])  # a field with two types
        assert writer.wait_idle(30)
        writer.close()
    assert writer.stats.rejected == 1 and writer.stats.requeued == 0
    assert any(e["event"] == "influx.write_rejected" for e in logs)
