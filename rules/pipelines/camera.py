"""Camera events: one sighting per real-world thing, with its matter code; cleared by time."""

from __future__ import annotations

from typing import Any

from devices.contracts import CameraEvent
from rules import camera
from rules.city_index import CityIndex
from rules.pipelines.common import Applies, Rule, RuleOutput, Rules, state_of


def camera_rule(index: CityIndex, rules: Rules, event: CameraEvent, out: RuleOutput) -> None:
    """Map the event type to its matter code and merge repeated frames."""
    name = camera.RULE
    rules[name], alerts = camera.step(
        state_of(rules, name),
        event,
        index.params.camera,
        matter_codes=index.params.camera_matter_codes,
        subject=event.device_id,
    )
    out.alerts += alerts


def camera_tick(index: CityIndex, rules: Rules, device_id: str, watermark_ms: int, out: RuleOutput) -> None:
    """Close sightings with no new frame for the window."""
    name = camera.RULE
    if name not in rules:
        return
    rules[name], alerts = camera.check(
        rules[name], watermark_ms, index.params.camera, matter_codes=index.params.camera_matter_codes, subject=device_id
    )
    out.alerts += alerts


def any_camera(index: CityIndex, event: Any) -> bool:
    """Every camera event counts (ingest has already refused cameras the city does not list)."""
    return True


RULES: list[tuple[Applies, Rule]] = [(any_camera, camera_rule)]
