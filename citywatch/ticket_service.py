"""``citywatch tickets serve``: the ticket service as a process of the stack."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from citywatch.city import load_city
from citywatch.live_city import CityFollower, city_editor
from citywatch.metrics import FromCounters, new_registry, serve_on_api, ticket_metrics
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from devices.inventory import City
from streams.livefeed import KafkaLiveFeed
from tickets.auth import TokenBook, known_companies, parse_tokens
from tickets.config import TicketConfig
from tickets.errors import TicketConfigError
from tickets.live import KEEP_MS, LiveView
from tickets.notify.worker import notify_worker
from tickets.outbox import OutboxWorker, WebhookConfig
from tickets.server import uvicorn_server
from tickets.service import TicketService

log = structlog.get_logger("citywatch.ticket_service")


def token_book(settings: Settings, config: TicketConfig, city: City | None = None) -> TokenBook:
    """Return the tokens from tickets.yaml (hashes) and CITYWATCH_TICKET_TOKENS, checked against the org tree
    and the city's companies; refuse to run with none."""
    issued = parse_tokens(settings.ticket_tokens.get_secret_value()) if settings.ticket_tokens else []
    book = TokenBook(config.users, issued, config.org_tree, known_companies(city))
    if not len(book):
        raise TicketConfigError(
            "no API users: add `users` (token hashes) to tickets.yaml or set "
            "CITYWATCH_TICKET_TOKENS; `citywatch tickets token` issues one"
        )
    return book


def run_service(settings: Settings, host: str, port: int, kafka_live: bool = True) -> None:
    """Serve the API and console until SIGINT / SIGTERM, with automation, live feed, webhook and notifications."""
    city = load_city(settings.city_dir)
    store = open_store(settings, city)
    service = TicketService(
        store,
        token_book(settings, store.config, city),
        LiveView(city),
        city,
        tick_s=settings.ticket_tick_s,
        editor=city_editor(settings.city_dir, city),
    )
    feed = (
        KafkaLiveFeed(
            settings.kafka_bootstrap,
            settings.topic_prefix,
            service.live,
            lookback_ms=KEEP_MS,
            partitions=settings.kafka_partitions,
        )
        if kafka_live
        else None
    )
    worker = _outbox(settings, store)
    notifier = notify_worker(store, os.environ)  # WeCom / DingTalk / SMS / webhook channels of tickets.yaml
    stop = threading.Event()
    follower = CityFollower(settings.city_dir, city.meta.version, [service.use_city])
    threading.Thread(target=follower.follow_blocking, args=(stop, settings.city_reload_s), daemon=True).start()
    if feed is not None:
        feed.start()
        service.health["live_feed"] = lambda: {
            "received": feed.received,
            "error": repr(feed.error) if feed.error else None,
        }
    if worker is not None:
        worker.start()
    if notifier is not None:
        notifier.start()
    service.start()
    log.info(
        "tickets.serving", url=f"http://{host}:{port}", store=store.engine.url.render_as_string(hide_password=True)
    )
    registry = new_registry()
    registry.register(FromCounters(lambda: ticket_metrics(store, notifier)))
    for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn stops on them, then raises them again to the
        signal.signal(sig, lambda _signum, _frame: None)  # handler found before it: ours, so the cleanup runs
    try:
        uvicorn_server(service, host, port, extend_api(service, feed, registry)).run()
    finally:
        stop.set()
        service.stop()
        if worker is not None:
            worker.stop()
        if notifier is not None:
            notifier.stop()
        if feed is not None:
            feed.stop()
        store.close()


def readiness(service: TicketService, feed: KafkaLiveFeed | None) -> dict[str, object]:
    """Return what /healthz reports: the store takes writes, the automation runs, the live feed reads Kafka."""
    checks = {
        "store": service.store.writable(),
        "automation": service.running(),
        "live_feed": feed is None or (feed.error is None and feed.running()),
    }
    return {"ok": all(checks.values()), **checks, "live_feed_error": repr(feed.error) if feed and feed.error else None}


def extend_api(
    service: TicketService, feed: KafkaLiveFeed | None, registry: CollectorRegistry
) -> Callable[[FastAPI], None]:
    """Return what adds the process's /metrics and /healthz (200 ready, 503 with the failing part) to the API."""
    with_metrics = serve_on_api(registry)

    def extend(app: FastAPI) -> None:
        with_metrics(app)

        @app.get("/healthz", include_in_schema=False)
        def healthz() -> JSONResponse:
            report = readiness(service, feed)
            return JSONResponse(report, status_code=200 if report["ok"] else 503)

    return extend


def _outbox(settings: Settings, store: object) -> OutboxWorker | None:
    if not settings.ticket_webhook_url:
        return None
    secret = settings.ticket_webhook_secret.get_secret_value() if settings.ticket_webhook_secret else None
    return OutboxWorker(store, WebhookConfig(settings.ticket_webhook_url, secret))  # type: ignore[arg-type]
