"""Grafana's dashboard JSON model in small pieces: panels, rows, thresholds and the dashboard itself.

Shared by the Flux boards (``build.py``) and the pipeline-health board (``pipeline.py``); the keys are
those of Grafana 11.3's dashboard schema (``tests/dashboards/grafana_11_3.py`` holds the reference).
"""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = 39
TAGS = ["citywatch"]
Json = dict[str, Any]


def panel(
    pid: int,
    title: str,
    kind: str,
    pos: tuple[int, int, int, int],
    targets: list[Json],
    defaults: Json | None = None,
    options: Json | None = None,
    overrides: list[Json] | None = None,
    description: str | None = None,
) -> Json:
    """Return a panel at (x, y, w, h) on the 24-column grid, on its first target's datasource."""
    x, y, w, h = pos
    model: Json = {
        "id": pid,
        "title": title,
        "type": kind,
        "datasource": targets[0]["datasource"],
        "targets": targets,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults or {}, "overrides": overrides or []},
        "options": options or {},
    }
    if description:
        model["description"] = description
    return model


def row(pid: int, title: str, y: int) -> Json:
    """Return an expanded row header across the grid at height y."""
    return {
        "id": pid,
        "title": title,
        "type": "row",
        "collapsed": False,
        "panels": [],
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
    }


def thresholds(*steps: tuple[float | None, str]) -> Json:
    """Return absolute thresholds: (None, base colour), then (value, colour) upwards."""
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def dashboard(
    uid: str, title: str, panels: list[Json], variables: list[Json], time_from: str = "now-1h", refresh: str = "10s"
) -> Json:
    """Return a dashboard model with a fixed uid."""
    return {
        "uid": uid,
        "title": title,
        "tags": TAGS,
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "editable": True,
        "graphTooltip": 1,
        "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }
