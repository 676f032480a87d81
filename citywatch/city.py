"""Loading a city for the services: its files (``devices.inventory``), then its rule parameters (``rules.params``)."""

from __future__ import annotations

from pathlib import Path

from devices import inventory
from devices.inventory import City
from rules.params import checked


def load_city(directory: str | Path) -> City:
    """Load and validate a city directory, rule parameters included; raise CityConfigError naming file and field."""
    return checked(Path(directory), inventory.load_city(directory))
