"""Build the ticket store and its parts from the process settings (the one place that does)."""

from __future__ import annotations

from citywatch.settings import Settings
from devices.inventory import City, load_city
from tickets.config import TicketConfig, config_for_city
from tickets.routing import CityResolver
from tickets.store import TicketStore


def ticket_config(settings: Settings) -> TicketConfig:
    """Load the tickets config named by the settings (or the city's tickets.yaml)."""
    return config_for_city(settings.city_dir, settings.ticket_config)


def open_store(settings: Settings, city: City | None = None, config: TicketConfig | None = None) -> TicketStore:
    """Open (and migrate) the store the settings name, routing by the city's inventory."""
    city = city if city is not None else load_city(settings.city_dir)
    config = config or ticket_config(settings)
    names = dict(getattr(city.meta, "matters", {}) or {})
    return TicketStore(settings.ticket_db_url or settings.ticket_db, config, CityResolver(config, city),
                       matter_names=names)
