"""The fusion stage: alerts of one real-world violation (same plate, or same place) become one."""

from __future__ import annotations

from rules import fusion
from rules.alerts import Alert
from rules.city_index import CityIndex
from rules.pipelines.common import Rules

FUSION = "fusion"  # the state slot of a fusion key
STATE_SLOTS = {FUSION: fusion.FusionState}


def fusion_key(index: CityIndex, alert: Alert) -> tuple[str, bool]:
    """Return the key an alert fuses under, and whether it is a plate (else a grid cell / subject)."""
    plate = index.plates.get(alert.subject) or alert.evidence.get("plate")
    if plate:
        return str(plate), True
    return alert.grid_code or alert.subject, False


def run_fusion(index: CityIndex, rules: Rules, alert: Alert) -> list[Alert]:
    """Fuse an alert with the open alerts of its key."""
    key, by_plate = fusion_key(index, alert)
    state = rules.get(FUSION) or fusion.FusionState()
    rules[FUSION], alerts = fusion.fuse(state, alert, key, index.params.camera, by_plate=by_plate)
    return alerts
