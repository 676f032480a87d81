"""Follow a city directory while running: a new ``version`` in city.yaml is a new city for every process.

Permits, vehicles, zones and rule parameters change while trucks drive. Whoever changes the files
(``citywatch city`` edits via the API, a GIS import, an operator's editor) raises ``version`` in
city.yaml last; every process (the embedded pipeline, each faust worker, the stack's ingest) sees
the new version within ``CITYWATCH_CITY_RELOAD_S``, loads and validates the whole city off its event
loop, and hands it to its listeners: the rules' engine (taken between batches; rule states carry
over), ingest's device list, case routing and the time-series tags. A city that does not load is
logged once per version and the process keeps judging under the version it has.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from citywatch.city import load_city
from devices.city_edit import CityEditor
from devices.inventory import City, CityConfigError, city_version

log = structlog.get_logger("citywatch.live_city")
Listener = Callable[[City], None]


class CityFollower:
    """Takes each new version of a city directory to its listeners."""

    def __init__(self, city_dir: Path, version: int, listeners: Sequence[Listener]) -> None:
        self.city_dir, self.version, self.listeners = city_dir, version, list(listeners)
        self.refused: int | None = None  # the last version that did not load (logged once)

    def due(self) -> int | None:
        """Return city.yaml's version if it is new and not already refused, else None (one small read)."""
        version = city_version(self.city_dir)
        return version if version not in (None, self.version, self.refused) else None

    def load(self, version: int) -> City | None:
        """Load and validate the city (blocking: call it off the event loop); None if it does not load."""
        try:
            return load_city(self.city_dir)
        except CityConfigError as exc:
            self.refused = version
            log.error("city.refused", city_version=version, kept=self.version, error=str(exc)[:2000])
            return None

    def adopt(self, city: City) -> None:
        """Hand a loaded city to every listener."""
        for listener in self.listeners:
            listener(city)
        log.info("city.adopted", city_version=city.meta.version, previous=self.version)
        self.version = city.meta.version

    async def check(self) -> bool:
        """Take a new version if there is one; return whether one was taken."""
        version = self.due()
        city = await asyncio.to_thread(self.load, version) if version is not None else None
        if city is not None:
            self.adopt(city)
        return city is not None

    def follow_blocking(self, stop: threading.Event, every_s: float) -> None:
        """Check every ``every_s`` until ``stop`` is set, on this thread (a process without an event loop)."""
        while every_s > 0 and not stop.wait(every_s):
            version = self.due()
            city = self.load(version) if version is not None else None
            if city is not None:
                self.adopt(city)

    async def follow(self, stop: asyncio.Event, every_s: float) -> None:
        """Check every ``every_s`` until ``stop`` is set (``every_s`` 0: never)."""
        while every_s > 0 and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                await self.check()


def city_editor(city_dir: Path, city: City) -> CityEditor:
    """Return the editor of the city API (changes stamped in the city's time zone)."""
    zone = ZoneInfo(city.meta.timezone)
    return CityEditor(city_dir, clock=lambda: datetime.now(zone))
