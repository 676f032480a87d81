"""Camera events: one sighting per real-world thing, with its matter code; cleared by time."""

from __future__ import annotations

from typing import Any

from devices.contracts import CameraEvent
from rules.catalog import judged
from rules.city_index import CityIndex
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, at_for, run_judge


def camera_rules(index: CityIndex, rules: Rules, event: CameraEvent, out: RuleOutput) -> None:
    """The catalog's rules on camera events (one sighting per real-world thing, with its matter code)."""
    for spec in judged(CameraEvent):
        run_judge(spec, rules, event, at_for(index, spec, event.device_id, event.lon, event.lat), out)


def any_camera(index: CityIndex, event: Any) -> bool:
    """Every camera event counts (ingest has already refused cameras the city does not list)."""
    return True


RULES: list[tuple[Applies, Rule]] = [(any_camera, camera_rules)]
