"""The console in the embedded mode: the ticket service and API inside the demo's process.

The runner feeds the live read model as a tap; the demo gets fresh random tokens, one per role
and per handling unit, plus a district's dispatcher and a transport company's login (tenancy),
printed once with the console URL.
"""

from __future__ import annotations

import os
import webbrowser
from dataclasses import dataclass

import structlog

from citywatch.live_city import city_editor
from citywatch.settings import Settings
from devices.inventory import City
from tickets.auth import (
    IssuedToken,
    TokenBook,
    demo_tokens,
    known_companies,
    parse_tokens,
)
from tickets.errors import TicketError
from tickets.lifecycle import Role
from tickets.live import LiveView
from tickets.notify.worker import NotifyWorker, notify_worker
from tickets.outbox import OutboxWorker, WebhookConfig
from tickets.server import ServerThread
from tickets.service import TicketService
from tickets.store import TicketStore

log = structlog.get_logger("citywatch.console")


@dataclass
class EmbeddedConsole:
    """A running console: the service, its HTTP server, the demo tokens and the webhook worker."""

    service: TicketService
    server: ServerThread
    tokens: list[IssuedToken]
    outbox: OutboxWorker | None = None
    notifier: NotifyWorker | None = None

    def url_for(self, role: Role) -> str:
        """Return the console URL that logs in as the first person with that role."""
        token = next(t.token for t in self.tokens if t.actor.role is role)
        return f"{self.server.url}/#token={token}"

    def banner(self) -> str:
        """Return the lines to show a person: where the console is and the tokens of the demo."""
        lines = [
            f"dispatch console: {self.url_for(Role.SHIFT_LEAD)}",
            f"API docs: {self.server.url}/docs",
            "demo tokens (paste into the console's token box to switch role):",
        ]
        lines += [f"  {t.actor.role.value:<11} {t.actor.name:<24} {t.token}" for t in self.tokens]
        return "\n".join(lines)

    def stop(self) -> None:
        """Stop the webhook and notification workers, the automation and the server."""
        if self.outbox is not None:
            self.outbox.stop()
        if self.notifier is not None:
            self.notifier.stop()
        self.service.stop()
        self.server.stop()


def units_of(store: TicketStore, city: City | None) -> list[str]:
    """Return the handling units a demo needs tokens for (config table and grid cells)."""
    cfg = store.config.units
    units = {cfg.default, *cfg.by_matter.values()}
    units |= {c.unit for c in getattr(city, "grid", None) or () if getattr(c, "unit", "")}
    return sorted(units)


def companies_of(city: City | None) -> list[str]:
    """Return the transport (muck) companies of the city's trucks, in inventory order."""
    return list(dict.fromkeys(v.company for v in getattr(city, "vehicles", None) or () if v.kind == "muck"))


def start_console(settings: Settings, store: TicketStore, city: City | None, live: LiveView) -> EmbeddedConsole:
    """Start the ticket service and API next to an embedded runner whose taps include ``live``; return the console."""
    issued = demo_tokens(units_of(store, city), store.config.org_tree, companies_of(city))
    if settings.ticket_tokens is not None:
        issued += parse_tokens(settings.ticket_tokens.get_secret_value())
    book = TokenBook(store.config.users, issued, store.config.org_tree, known_companies(city))
    editor = city_editor(settings.city_dir, city) if city is not None else None
    service = TicketService(store, book, live, city, tick_s=settings.ticket_tick_s, editor=editor)
    server = _serve(service, settings)
    service.start()
    worker = None
    if settings.ticket_webhook_url:
        secret = settings.ticket_webhook_secret.get_secret_value() if settings.ticket_webhook_secret else None
        worker = OutboxWorker(store, WebhookConfig(settings.ticket_webhook_url, secret))
        worker.start()
    notifier = notify_worker(store, os.environ)  # the city's tickets.yaml `notify:` channels, if any
    if notifier is not None:
        notifier.start()
    console = EmbeddedConsole(service, server, issued, worker, notifier)
    if os.environ.get("DISPLAY"):
        webbrowser.open(console.url_for(Role.SHIFT_LEAD))
    return console


def _serve(service: TicketService, settings: Settings) -> ServerThread:
    try:
        return ServerThread(service, settings.ticket_api_host, settings.ticket_api_port).start()
    except (TicketError, OSError) as exc:  # the configured port is taken: any free port will do for a demo
        log.warning("console.port_taken", port=settings.ticket_api_port, error=str(exc))
        return ServerThread(service, settings.ticket_api_host, 0).start()
