"""A stream worker of the stack: ``citywatch worker`` (or ``faust -A citywatch.worker worker``); run several.

The faust app is built here, once, from the process settings: the city is loaded and the state
directory made when this module is imported, which is what faust's ``-A`` does at start-up.
"""

from __future__ import annotations

from functools import partial

from faust.sensors.prometheus import setup_prometheus_sensors

from citywatch.city import load_city
from citywatch.configs import worker_config
from citywatch.live_city import CityFollower
from citywatch.metrics import FromCounters, new_registry, serve_metrics_page, worker_metrics
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from streams.app import build_app

settings = Settings()
city = load_city(settings.city_dir)
settings.faust_data_dir.mkdir(parents=True, exist_ok=True)
app = build_app(worker_config(settings), city, partial(open_store, settings, city))
follower = CityFollower(settings.city_dir, city.meta.version, app.city_listeners)
metrics = new_registry()
metrics.register(FromCounters(lambda: worker_metrics(app)))
if settings.faust_prometheus:  # faust's own sensor (events, commits, offsets, latencies); it serves /metrics too
    setup_prometheus_sensors(app, "/metrics", metrics, name_prefix="faust")
else:
    serve_metrics_page(app, metrics)
if settings.city_reload_s > 0:
    app.timer(interval=settings.city_reload_s)(follower.check)  # a new city version within seconds


def run_worker(log_json: bool, log_level: str) -> None:
    """Run this process's faust worker until a signal stops it (what ``citywatch worker`` does)."""
    import faust

    from citywatch.logs import logging_config

    worker = faust.Worker(
        app,
        loglevel=log_level,
        logging_config=logging_config(log_json, log_level),
        quiet=log_json,  # no banner table between the JSON lines
        redirect_stdouts=False,
    )
    worker.execute_from_commandline()
