"""Camera events: one sighting per real-world thing, with its matter code; cleared by time."""

from __future__ import annotations

from typing import Any

from devices.contracts import CameraEvent
from rules.city_index import CityIndex
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, run_catalog


def camera_rules(index: CityIndex, rules: Rules, event: CameraEvent, out: RuleOutput) -> None:
    """The catalog's rules on camera events (one sighting per real-world thing, with its matter code)."""
    run_catalog(index, rules, event, out, (event.lon, event.lat))


def any_camera(index: CityIndex, event: Any) -> bool:
    """Every camera event counts (ingest has already refused cameras the city does not list)."""
    return True


RULES: list[tuple[Applies, Rule]] = [(any_camera, camera_rules)]
