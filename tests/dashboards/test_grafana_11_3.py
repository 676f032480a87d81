"""The dashboards against what Grafana 11.3 accepts: unit ids, panel types, options and geomap layers.

Grafana cannot run here, and it saves whatever JSON it is given: an unknown unit id is printed
verbatim after every value, an unknown option or layer type is silently ignored. So every panel is
checked against reference lists from Grafana 11.3's source (``grafana_11_3.py`` says where each
comes from), and each check is shown to catch the mistake it is there for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dashboards.basemap import MapSettings
from dashboards.build import dashboards, fleet_map
from devices.inventory import load_city
from rules.params import params_of
from tests.dashboards import grafana_11_3 as g

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[2]
BASEMAPS = [
    MapSettings(basemap="amap"),
    MapSettings(basemap="tianditu", tianditu_key=SecretStr("k")),
    MapSettings(basemap="xyz", tiles_url="http://tiles.local/{z}/{x}/{y}.png"),
    MapSettings(basemap="none"),
]
BOARDS = dashboards(params_of(load_city(REPO / "cities" / "demo"))) + [fleet_map(basemap=m) for m in BASEMAPS]
assert len(BASEMAPS) == 4
IDS = [b["uid"] for b in BOARDS[:-4]] + [f"cw-fleet-{m.basemap}" for m in BASEMAPS]


def unknown(what: str, found: Any, known: Any) -> list[str]:
    """Return a problem for each key or value of ``found`` that ``known`` lacks."""
    items = set(found) if isinstance(found, dict | list | set | frozenset) else {found}
    return [f"{what}: {x!r} is not in Grafana 11.3" for x in sorted(items - set(known), key=str)]


def known_unit(unit: str) -> bool:
    """Tell whether Grafana 11.3 formats with this unit id (else it prints the id after the value)."""
    key, _, text = unit.partition(":")
    return unit in g.UNITS or (key in g.CUSTOM_UNIT_KEYS and bool(text))


def units(p: Json) -> Iterator[tuple[str, str]]:
    """Yield (where, unit) of a panel's default unit and of every override's."""
    config = p.get("fieldConfig", {})
    if "unit" in config.get("defaults", {}):
        yield f"{p['title']} defaults", config["defaults"]["unit"]
    for o in config.get("overrides", []):
        for prop in o["properties"]:
            if prop["id"] == "unit":
                yield f"{p['title']} override {o['matcher']['options']}", prop["value"]


def unit_problems(p: Json) -> list[str]:
    return [f"{where}: unit {unit!r} is not a Grafana 11.3 unit id" for where, unit in units(p) if not known_unit(unit)]


def custom_keys(kind: str) -> frozenset[str]:
    return {"timeseries": g.TIMESERIES_CUSTOM, "table": g.TABLE_CUSTOM}.get(kind, frozenset())


def timeseries_custom_problems(custom: Json) -> list[str]:
    out = unknown("custom", custom, g.TIMESERIES_CUSTOM)
    out += unknown("custom.drawStyle", custom.get("drawStyle", "line"), g.DRAW_STYLES)
    out += unknown("custom.showPoints", custom.get("showPoints", "auto"), g.SHOW_POINTS)
    out += unknown(
        "custom.thresholdsStyle.mode", custom.get("thresholdsStyle", {}).get("mode", "off"), g.THRESHOLDS_STYLES
    )
    return out + unknown("custom.lineStyle.fill", custom.get("lineStyle", {}).get("fill", "solid"), g.LINE_STYLE_FILLS)


def field_config_problems(kind: str, config: Json) -> list[str]:
    out = unknown("fieldConfig.defaults", config, g.FIELD_CONFIG_KEYS)
    out += unknown("color.mode", config.get("color", {}).get("mode", "fixed"), g.COLOR_MODES)
    out += unknown("mapping type", [m["type"] for m in config.get("mappings", [])], g.MAPPING_TYPES)
    if kind == "timeseries":
        out += timeseries_custom_problems(config.get("custom", {}))
    elif "custom" in config:
        out += unknown(f"{kind} custom", config["custom"], custom_keys(kind))
    return out


def override_problems(kind: str, override: Json) -> list[str]:
    out = unknown("override matcher", override["matcher"]["id"], g.FIELD_MATCHERS)
    for prop in override["properties"]:
        name, value = prop["id"], prop["value"]
        if name.startswith("custom."):
            out += unknown(f"{kind} override", name.removeprefix("custom."), custom_keys(kind))
        else:
            out += unknown("override property", name, g.FIELD_CONFIG_KEYS)
        if name == "custom.cellOptions":
            out += unknown("cell type", value["type"], g.TABLE_CELL_TYPES)
        if name in ("color", "mappings"):
            out += field_config_problems(kind, {name: value})
    return out


def option_problems(kind: str, options: Json) -> list[str]:
    out = unknown(f"{kind} options", options, g.PANEL_OPTIONS[kind])
    for key, value in options.items():
        if (kind, key) in g.OPTION_VALUES:
            out += unknown(f"{kind} {key}", value, g.OPTION_VALUES[kind, key])
    reduce = options.get("reduceOptions", {})
    out += unknown("reduceOptions", reduce, g.REDUCE_OPTION_KEYS)
    out += unknown("reduceOptions.calcs", reduce.get("calcs", []), g.REDUCERS)
    for sort in options.get("sortBy", []):
        out += unknown("sortBy", sort, g.SORT_BY_KEYS)
    return out


def style_problems(where: str, style: Json) -> list[str]:
    out = unknown(f"{where} style", style, g.STYLE_KEYS)
    out += unknown(f"{where} textConfig", style.get("textConfig", {}), g.TEXT_CONFIG_KEYS)
    symbol = style.get("symbol", {}).get("fixed", "img/icons/marker/circle.svg")
    shape = symbol.removeprefix("img/icons/marker/").removesuffix(".svg")
    return out + unknown(f"{where} symbol", shape, g.MARKER_SYMBOLS)


def layer_problems(layer: Json, refs: set[str], base: bool = False) -> list[str]:
    where, kind = layer.get("name", "?"), layer["type"]
    out = unknown(f"{where} layer", layer, g.LAYER_KEYS)
    out += unknown(f"{where} layer type", kind, g.BASE_LAYER_TYPES | g.DATA_LAYER_TYPES)
    if base and kind not in g.BASE_LAYER_TYPES | {
        "geojson"
    }:  # initLayer takes any registered type; we want tiles or a file
        out.append(f"{where}: {kind!r} as a base layer")
    out += unknown(f"{where} config", layer.get("config", {}), g.LAYER_CONFIG.get(kind, frozenset()))
    out += style_problems(where, layer.get("config", {}).get("style", {}))
    if "filterData" in layer:
        out += unknown(f"{where} filterData", layer["filterData"]["id"], g.FRAME_MATCHERS)
        out += unknown(f"{where} filterData refId", layer["filterData"]["options"], refs)
    if "location" in layer:
        out += unknown(f"{where} location", layer["location"], g.LOCATION_KEYS)
        out += unknown(f"{where} location mode", layer["location"]["mode"], g.LOCATION_MODES)
    return out


def geomap_problems(p: Json) -> list[str]:
    options, refs = p["options"], {t["refId"] for t in p["targets"]}
    out = unknown("view", options["view"], g.VIEW_KEYS) + unknown("view id", options["view"]["id"], g.VIEW_IDS)
    out += unknown("controls", options["controls"], g.CONTROL_KEYS)
    out += unknown("tooltip mode", options["tooltip"]["mode"], g.TOOLTIP_MODES)
    out += layer_problems(options["basemap"], refs, base=True)
    for layer in options["layers"]:
        out += layer_problems(layer, refs)
    return out


def panel_problems(p: Json) -> list[str]:
    """Return everything in a panel that Grafana 11.3 would not understand."""
    kind = p["type"]
    if kind == "row":
        return unknown("row", p, g.ROW_KEYS)
    if kind not in g.PANEL_TYPES:
        return unknown("panel type", kind, g.PANEL_TYPES)
    out = unknown("panel", p, g.PANEL_KEYS)
    out += unknown("datasource type", {t["datasource"]["type"] for t in p["targets"]}, g.DATASOURCE_TYPES)
    out += unit_problems(p) + option_problems(kind, p["options"])
    out += field_config_problems(kind, p["fieldConfig"]["defaults"])
    for override in p["fieldConfig"]["overrides"]:
        out += override_problems(kind, override)
    return out + (geomap_problems(p) if kind == "geomap" else [])


def board_problems(board: Json) -> list[str]:
    """Return every problem of a dashboard: its panels and its variables."""
    out = [f"{p['title']}: {x}" for p in board["panels"] for x in panel_problems(p)]
    for v in board["templating"]["list"]:
        out += unknown(f"variable {v['name']}", v, g.VARIABLE_KEYS) + unknown(
            "refresh", v["refresh"], g.VARIABLE_REFRESH
        )
    return out


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_grafana_11_3_understands_every_panel(board: Json) -> None:
    assert board_problems(board) == []


@pytest.mark.parametrize("board", BOARDS, ids=IDS)
def test_every_unit_is_a_grafana_11_3_unit(board: Json) -> None:
    found = [unit for p in board["panels"] for _, unit in units(p)]
    assert all(known_unit(u) for u in found), found


def test_the_pm10_unit_is_the_greek_mu_one() -> None:
    assert known_unit("con\u03bcgm3") and not known_unit("con\u00b5gm3")  # μ (U+03BC), not µ (U+00B5)
    assert not known_unit("dBA") and known_unit("suffix:dB(A)") and not known_unit("suffix:")
    sites = next(b for b in BOARDS if b["uid"] == "cw-sites")
    assert [u for p in sites["panels"] for _, u in units(p)][:2] == ["con\u03bcgm3", "suffix:dB(A)"]


def _mutate(uid: str, edit: Callable[[Json], None]) -> list[str]:
    board = copy.deepcopy(next(b for b in BOARDS if b["uid"] == uid))
    edit(board)
    return board_problems(board)


def _geomap(board: Json) -> Json:
    return next(p for p in board["panels"] if p["type"] == "geomap")


@pytest.mark.parametrize(
    ("uid", "edit", "problem"),
    [
        ("cw-sites", lambda b: b["panels"][0]["fieldConfig"]["defaults"].update(unit="con\u00b5gm3"), "unit"),
        ("cw-alerts", lambda b: b["panels"][0]["options"].update(colourMode="background"), "colourMode"),
        ("cw-alerts", lambda b: b["panels"][0]["options"].update(colorMode="backgrnd"), "backgrnd"),
        ("cw-alerts", lambda b: b["panels"][0].update(type="singlestat"), "singlestat"),
        (
            "cw-alerts",
            lambda b: b["panels"][0]["options"]["reduceOptions"].update(calcs=["lastNonNull"]),
            "lastNonNull",
        ),
        ("cw-fleet", lambda b: _geomap(b)["options"]["layers"][1].update(type="routes"), "routes"),
        ("cw-fleet", lambda b: _geomap(b)["options"]["layers"][1]["filterData"].update(options="Z"), "'Z'"),
        ("cw-fleet", lambda b: _geomap(b)["options"]["layers"][2]["config"]["style"].update(colour={}), "colour"),
        ("cw-fleet", lambda b: _geomap(b)["options"]["view"].update(id="center"), "center"),
        ("cw-facilities", lambda b: b["panels"][0]["fieldConfig"]["defaults"]["custom"].update(drawStyle="bar"), "bar"),
        ("cw-pipeline", lambda b: b["panels"][1].update(type="rows"), "rows"),
    ],
)
def test_each_check_catches_its_mistake(uid: str, edit: Callable[[Json], None], problem: str) -> None:
    found = _mutate(uid, edit)
    assert any(problem in p for p in found), found
