"""A stream worker of the stack: ``faust -A citywatch.worker worker -l info`` (run several).

The faust app is built here, once, from the process settings: the city is loaded and the state
directory made when this module is imported, which is what faust's ``-A`` does at start-up.
"""

from __future__ import annotations

from functools import partial

from citywatch.city import load_city
from citywatch.configs import worker_config
from citywatch.live_city import CityFollower
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from streams.app import build_app

settings = Settings()
city = load_city(settings.city_dir)
settings.faust_data_dir.mkdir(parents=True, exist_ok=True)
app = build_app(worker_config(settings), city, partial(open_store, settings, city))
follower = CityFollower(settings.city_dir, city.meta.version, app.city_listeners)
if settings.city_reload_s > 0:
    app.timer(interval=settings.city_reload_s)(follower.check)  # a new city version within seconds
