"""The dashboards as code, checked structurally (Grafana itself cannot run here)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboards.build import DATASOURCE_UID, dashboards, fleet_map
from dashboards.geo import corridors_geojson, districts_geojson
from dashboards.queries import DISTRICT_CODE, QUERIES, district_variable_query, regex_value, render
from devices.inventory import load_city
from rules.params import params_of

REPO = Path(__file__).resolve().parents[2]
BOARDS = dashboards(params_of(load_city(REPO / "cities" / "demo")))  # as `citywatch dashboards export` writes them
CITY_BOARDS = [b for b in BOARDS if b["uid"] != "cw-pipeline"]  # the Flux ones; cw-pipeline is on Prometheus
PANEL_TYPES = {"geomap", "table", "timeseries", "stat", "bargauge"}


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in board["panels"] for t in p.get("targets", [])]


def test_uids_are_fixed_unique_and_short() -> None:
    uids = [b["uid"] for b in BOARDS]
    assert uids == ["cw-fleet", "cw-alerts", "cw-facilities", "cw-sites", "cw-devices", "cw-pipeline"]
    assert all(len(u) <= 40 and re.fullmatch(r"[a-z0-9-]+", u) for u in uids)


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b["uid"])
def test_panels_are_well_formed(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for p in board["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        if p["type"] == "row":
            assert p["title"] and pos == {"x": 0, "y": pos["y"], "w": 24, "h": 1} and not p["collapsed"]
            continue
        assert p["type"] in PANEL_TYPES and p["title"] and p["targets"]
        assert all(t["datasource"] == p["datasource"] for t in p["targets"])
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
    assert board["schemaVersion"] >= 36 and board["time"]["from"].startswith("now-")


@pytest.mark.parametrize("board", BOARDS, ids=lambda b: b["uid"])
def test_panels_do_not_overlap(board: dict[str, Any]) -> None:
    cells = [(x, y) for p in board["panels"] for x, y in _cells(p["gridPos"])]
    assert len(cells) == len(set(cells))


def _cells(pos: dict[str, int]) -> list[tuple[int, int]]:
    return [(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])]


@pytest.mark.parametrize("board", CITY_BOARDS, ids=lambda b: b["uid"])
def test_every_query_is_a_named_flux_query_on_the_citywatch_datasource(board: dict[str, Any]) -> None:
    known = set(QUERIES.values())
    for t in targets(board):
        assert t["datasource"] == {"type": "influxdb", "uid": DATASOURCE_UID}
        assert t["query"] in known
        assert "v.defaultBucket" in t["query"] and "v.timeRangeStop" in t["query"]


@pytest.mark.parametrize("board", CITY_BOARDS, ids=lambda b: b["uid"])
def test_template_variables_cover_every_variable_the_queries_use(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    used = {m for t in targets(board) for m in re.findall(r"\$\{(\w+):regex\}", t["query"])}
    assert used <= set(variables), f"undefined variables {used - set(variables)}"
    assert "district" in variables
    for v in variables.values():
        assert v["includeAll"] and v["allValue"] == ".*" and v["multi"] and "distinct(column:" in v["query"]


def test_fleet_map_layers_use_the_panel_queries() -> None:
    (geomap,) = [p for p in BOARDS[0]["panels"] if p["type"] == "geomap"]
    refs = {t["refId"] for t in geomap["targets"]}
    layers = geomap["options"]["layers"]
    assert {layer["type"] for layer in layers} == {"geojson", "markers"}
    for layer in layers:
        if layer["type"] != "geojson":
            assert layer["filterData"]["options"] in refs
            assert layer["location"] == {"mode": "coords", "latitude": "lat", "longitude": "lon"}
    names = {layer["name"].split(" ")[0] for layer in layers}
    assert {"Trucks", "Trails", "Stations", "Sites", "Permitted", "Open"} <= names


def test_every_trail_is_drawn_from_one_frame_and_nothing_joins_two_trucks() -> None:
    """Geomap layers read the first frame only: the trails come as one table, drawn as dots, not a route."""
    (geomap,) = [p for p in BOARDS[0]["panels"] if p["type"] == "geomap"]
    (trails,) = [layer for layer in geomap["options"]["layers"] if layer["name"].startswith("Trails")]
    (tracks,) = [t for t in geomap["targets"] if t["refId"] == trails["filterData"]["options"]]
    assert trails["type"] == "markers" and tracks["query"] == QUERIES["fleet_tracks"]
    tail = tracks["query"].split("|> pivot(")[1]
    assert "|> group()\n" in tail and "group(columns" not in tail  # one table for every truck
    assert tail.endswith('|> sort(columns: ["device_id", "_time"])')  # each truck's fixes together, in time order
    for name in ("fleet_positions", "facilities_map", "sites_map", "open_alerts"):  # the other layers: one table too
        assert "|> group()\n" in QUERIES[name].split("|> pivot(")[-1], name


def test_district_means_a_district_code_in_every_query() -> None:
    """The variable lists codes; every query keeps a chosen code's rows and those that have no one district."""
    variables = [v for b in CITY_BOARDS for v in b["templating"]["list"] if v["name"] == "district"]
    assert len(variables) == len(CITY_BOARDS) and {v["query"] for v in variables} == {district_variable_query()}
    assert f"r.district =~ /^{DISTRICT_CODE}$/" in district_variable_query()
    wanted = f"(r.district =~ /^${{district:regex}}$/ or r.district !~ /^{DISTRICT_CODE}$/)"
    using = [name for name, query in QUERIES.items() if "district:regex" in query]
    assert len(using) == 15 and all(query.count(wanted) == 1 for name, query in QUERIES.items() if name in using)
    assert re.fullmatch(DISTRICT_CODE, "420106") and not re.fullmatch(DISTRICT_CODE, "江城示范区")


def test_exported_files_match_the_code() -> None:
    for board in BOARDS:
        path = REPO / "dashboards" / "json" / f"{board['uid']}.json"
        assert json.loads(path.read_text(encoding="utf-8")) == board, f"run `citywatch dashboards export` ({path})"


def test_district_outlines_are_committed_for_the_demo_city_and_one_per_district() -> None:
    city = load_city(REPO / "cities" / "demo")
    committed = json.loads((REPO / "dashboards" / "geo" / "districts.geojson").read_text(encoding="utf-8"))
    assert committed == districts_geojson(city)
    assert [f["properties"]["district"] for f in committed["features"]] == ["420106", "420111"]
    assert sum(f["properties"]["cells"] for f in committed["features"]) == len(city.grid)
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in committed["features"])


def test_the_tileless_map_draws_the_district_outlines_as_its_base_layer() -> None:
    (geomap,) = [p for p in fleet_map(basemap="none")["panels"] if p["type"] == "geomap"]
    base = geomap["options"]["basemap"]
    assert base["type"] == "geojson" and base["config"]["src"] == "public/maps/citywatch/districts.geojson"
    assert all(layer["type"] in ("geojson", "markers") for layer in geomap["options"]["layers"])
    assert all(t["query"] in QUERIES.values() for t in geomap["targets"])  # WGS-84: nothing shifted


def test_corridor_layer_is_valid_geojson_for_the_demo_city() -> None:
    city = load_city(REPO / "cities" / "demo")
    committed = json.loads((REPO / "dashboards" / "geo" / "corridors.geojson").read_text(encoding="utf-8"))
    assert committed == corridors_geojson(city), "run `citywatch dashboards export`"
    for f in committed["features"]:
        coords = f["geometry"]["coordinates"]
        assert f["geometry"]["type"] == "LineString" and len(coords) >= 2
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in coords)


def test_render_substitutes_macros_and_variables_like_grafana() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    text = render(
        QUERIES["fleet_positions"],
        bucket="db/rp",
        start=start,
        stop=start + timedelta(hours=1),
        window=timedelta(seconds=30),
        variables={"company": ["环卫(一)队", "b.c"]},
    )
    assert 'from(bucket: "db/rp")' in text and "range(start: 2026-01-01T00:00:00.000000Z" in text
    assert r"r.company =~ /^(环卫\(一\)队|b\.c)$/" in text and "r.district =~ /^.*$/" in text
    assert "v." not in text and "${" not in text
    assert regex_value(None) == ".*" and regex_value(["a/b"]) == r"a\/b"


def test_file_provisioning_matches_the_api_provisioning() -> None:
    import yaml

    from dashboards.push import FOLDER_UID, InfluxSource, datasource_model, prometheus_model

    prov = REPO / "dashboards" / "provisioning"
    (ds,) = yaml.safe_load((prov / "datasources" / "influxdb.yaml").read_text(encoding="utf-8"))["datasources"]
    model = datasource_model(InfluxSource("http://influxdb:8086", "t", "o", "b"))
    assert (ds["uid"], ds["type"], ds["jsonData"]["version"]) == (model["uid"], model["type"], "Flux")
    (prom,) = yaml.safe_load((prov / "datasources" / "prometheus.yaml").read_text(encoding="utf-8"))["datasources"]
    assert {k: v for k, v in prom.items() if k != "editable"} == prometheus_model()
    assert [ds["isDefault"], prom["isDefault"]] == [True, False]  # Grafana refuses two defaults in one org
    (provider,) = yaml.safe_load((prov / "dashboards" / "citywatch.yaml").read_text(encoding="utf-8"))["providers"]
    assert provider["folderUid"] == FOLDER_UID and provider["type"] == "file"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["volumes"] if v.startswith("./")}
    assert mounts[provider["options"]["path"]] == "./dashboards/json"
    assert mounts["/usr/share/grafana/public/maps/citywatch"] == "./dashboards/geo"
