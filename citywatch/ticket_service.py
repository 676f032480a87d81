"""``citywatch tickets serve``: the ticket service as a process of the stack."""

from __future__ import annotations

import threading

import structlog

from citywatch.city import load_city
from citywatch.live_city import CityFollower, city_editor
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from devices.inventory import City
from streams.livefeed import KafkaLiveFeed
from tickets.auth import TokenBook, known_companies, parse_tokens
from tickets.config import TicketConfig
from tickets.errors import TicketConfigError
from tickets.live import KEEP_MS, LiveView
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
    """Serve the API and console until SIGINT / SIGTERM, with automation, live feed and webhook."""
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
    service.start()
    log.info(
        "tickets.serving", url=f"http://{host}:{port}", store=store.engine.url.render_as_string(hide_password=True)
    )
    try:
        uvicorn_server(service, host, port).run()
    finally:
        stop.set()
        service.stop()
        if worker is not None:
            worker.stop()
        if feed is not None:
            feed.stop()
        store.close()


def _outbox(settings: Settings, store: object) -> OutboxWorker | None:
    if not settings.ticket_webhook_url:
        return None
    secret = settings.ticket_webhook_secret.get_secret_value() if settings.ticket_webhook_secret else None
    return OutboxWorker(store, WebhookConfig(settings.ticket_webhook_url, secret))  # type: ignore[arg-type]
