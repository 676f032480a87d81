"""The Grafana dashboards as code: fixed uids, one Flux datasource, queries from ``queries.py``.

``dashboards(rules)`` returns the five city dashboards as Grafana JSON models, with the limits the
city's rules judge by (``city.yaml`` → ``rules``; the per-reading limit series come from the same
rules, see ``streams/timeseries/schema.py`` ``SiteLimits``), and the pipeline's own health board
(``pipeline.py``, on Prometheus); ``citywatch dashboards export`` writes them to ``dashboards/json/``
for file provisioning, ``citywatch dashboards push`` sends them to a Grafana over its HTTP API.
"""

from __future__ import annotations

from dashboards.basemap import DATUM, Basemap, MapSettings, base_layer, map_settings, on_basemap, overlay_layers
from dashboards.panels import Json, dashboard, panel, thresholds
from dashboards.pipeline import pipeline_board
from dashboards.queries import QUERIES, district_variable_query, variable_query
from devices.datum import convert_point
from rules.params import RuleParams

DATASOURCE_UID = "citywatch-influx"
DS: dict[str, str] = {"type": "influxdb", "uid": DATASOURCE_UID}
CORRIDORS_SRC = "public/maps/citywatch/corridors.geojson"
# Unit ids as Grafana 11.3 knows them (packages/grafana-data/src/valueFormats/categories.ts). An id it
# does not know is printed after the value as it is, so a near miss shows e.g. "150 conµgm3": PM10's
# id has the Greek mu (U+03BC), not the micro sign (U+00B5) of its time unit "µs". Noise has no id
# of its own ("dB" is not A-weighted): valueFormats.ts reads "suffix:<text>" as a custom unit.
UNIT_PM10 = "con\u03bcgm3"
UNIT_NOISE = "suffix:dB(A)"


def target(name: str, ref: str = "A", basemap: Basemap = "default") -> Json:
    """Return a panel target that runs one of the named queries (a map layer's shifted to its base map's datum)."""
    return {"refId": ref, "datasource": DS, "query": on_basemap(QUERIES[name], basemap)}


def variable(name: str, label: str, measurement: str, tag: str, query: str | None = None) -> Json:
    """Return a multi-value template variable over the values of a tag (All = every value)."""
    query = query or variable_query(measurement, tag)
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def _district() -> Json:
    """Return the district variable: grid district codes, the same meaning in every query (see queries._district)."""
    return variable("district", "District 区 (code 区划代码)", "device_status", "district", district_variable_query())


def _coords(ref: str) -> Json:
    return {"id": "byRefId", "options": ref}


def _markers(
    name: str, ref: str, color: Json, symbol: str, text: str | None = None, size: int = 7, opacity: float = 0.9
) -> Json:
    style: Json = {
        "color": color,
        "size": {"fixed": size},
        "opacity": opacity,
        "symbol": {"mode": "fixed", "fixed": f"img/icons/marker/{symbol}.svg"},
    }
    if text:
        style["text"] = {"mode": "field", "field": text}
        style["textConfig"] = {"fontSize": 10, "offsetY": -12, "textAlign": "center"}
    return {
        "type": "markers",
        "name": name,
        "filterData": _coords(ref),
        "tooltip": True,
        "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
        "config": {"style": style},
    }


STATE_COLOURS = {"idle": "#8e8e8e", "empty": "#56a64b", "half": "#f2cc0c", "full": "#ff780a"}


def _state_override() -> Json:
    options = {state: {"color": colour, "index": i} for i, (state, colour) in enumerate(STATE_COLOURS.items())}
    return {
        "matcher": {"id": "byName", "options": "state"},
        "properties": [
            {"id": "mappings", "value": [{"type": "value", "options": options}]},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": "#8e8e8e"}},
        ],
    }


def _threshold_override(field: str, steps: Json, unit: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": field},
        "properties": [
            {"id": "thresholds", "value": steps},
            {"id": "color", "value": {"mode": "thresholds"}},
            {"id": "unit", "value": unit},
        ],
    }


FILL_STEPS = thresholds((None, "green"), (0.8, "orange"), (0.95, "red"))


def pm10_steps(rules: RuleParams) -> Json:
    """Return the PM10 colours of the city's ladder: over the limit orange, over the stop-work level red."""
    p = rules.pm10
    stop = [] if p.stop_ugm3 is None else [(p.stop_ugm3, "red")]
    return thresholds((None, "green"), (p.warn_ugm3, "orange" if stop else "red"), *stop)


def noise_title(rules: RuleParams) -> str:
    """Return the noise panel's title with the city's day / night limits and night."""
    n = rules.noise
    return f"Noise vs limit (day {n.day_limit_dba:g} / night {n.night_limit_dba:g} dB(A), night {n.night}) 噪声与限值"


def trails_layer(ref: str) -> Json:
    """Return the trails of every truck as a layer of small dots, one per fix (``fleet_tracks``: one frame).

    Grafana 11.3's route layer draws one line through the rows of the first frame it is given and
    drops the rest (public/app/plugins/panel/geomap/layers/data/routeLayer.tsx, ``update``: "break;
    // Only the first frame for now!"), after the layer's ``filterData`` frame matcher
    (geomap/utils/layers.ts ``applyLayerFilter``). So a query grouped by truck drew one truck's trail,
    and one frame of every truck drew one line that jumps from truck to truck. Neither a transformation
    helps (partition by values makes the same N frames; join by field makes N lat/lon column pairs
    of which a layer reads one), nor a route layer per truck (frame matchers are byName, byRefId and
    byIndex only: a fixed count of layers for a fleet that changes, and indexes that shift whenever
    a query returns nothing). The markers layer also reads only the first frame, but draws each of
    its rows on its own: every truck's fixes, with nothing joining two trucks.
    """
    trail = _markers("Trails 轨迹", ref, {"fixed": "#8ab8ff"}, "circle", size=3, opacity=0.6)
    return {**trail, "tooltip": False}


def fleet_map(
    center: tuple[float, float] = (114.30, 30.59),
    rules: RuleParams | None = None,
    basemap: Basemap | MapSettings = "default",
) -> Json:
    """Return the live fleet map: trucks by state, trails, corridors, stations, sites, open alerts."""
    tiles = map_settings(basemap)
    datum = DATUM[tiles.basemap]
    layers = [
        *overlay_layers(tiles),
        {
            "type": "geojson",
            "name": "Permitted corridors 准运路线",
            "config": {"src": CORRIDORS_SRC, "style": {"color": {"fixed": "#3274d9"}, "opacity": 0.35, "lineWidth": 6}},
        },
        trails_layer("E"),
        _markers("Stations 压缩站/垃圾箱", "B", {"field": "fill_ratio", "fixed": "green"}, "square"),
        _markers("Sites 工地", "C", {"field": "pm10_ugm3", "fixed": "green"}, "triangle"),
        _markers("Trucks 车辆", "A", {"field": "state", "fixed": "#8e8e8e"}, "circle", text="device_id"),
        _markers("Open alerts 告警", "D", {"fixed": "red"}, "x-mark", size=14),
    ]
    options = {
        "view": {
            "id": "coords",
            **dict(zip(("lon", "lat"), convert_point(*center, "WGS-84", datum), strict=True)),
            "zoom": 14,
        },
        "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
        "basemap": base_layer(tiles),
        "layers": layers,
        "tooltip": {"mode": "details"},
    }
    targets = [
        target(name, ref, tiles.basemap)
        for name, ref in [
            ("fleet_positions", "A"),
            ("facilities_map", "B"),
            ("sites_map", "C"),
            ("open_alerts", "D"),
            ("fleet_tracks", "E"),
        ]
    ]
    overrides = [
        _state_override(),
        _threshold_override("fill_ratio", FILL_STEPS, "percentunit"),
        _threshold_override("pm10_ugm3", pm10_steps(rules or RuleParams()), UNIT_PM10),
    ]
    trucks = panel(
        2,
        "Trucks 车辆",
        "table",
        (16, 0, 8, 18),
        [target("fleet_positions")],
        overrides=[_state_override()],
        options={"sortBy": [{"displayName": "device_id"}]},
    )
    return dashboard(
        "cw-fleet",
        "Citywatch · Live fleet map 实时车辆地图",
        [
            panel(1, "Fleet map 车辆地图", "geomap", (0, 0, 16, 18), targets, options=options, overrides=overrides),
            trucks,
        ],
        [
            _district(),
            variable("company", "Company 企业", "position", "company"),
            variable("kind", "Kind 车辆类型", "position", "vehicle_kind"),
        ],
        time_from="now-30m",
        refresh="5s",
    )


def alerts_board() -> Json:
    """Return the alerts and open tickets dashboard."""
    severity = {
        "type": "value",
        "options": {
            "critical": {"color": "red"},
            "major": {"color": "orange"},
            "warning": {"color": "yellow"},
            "info": {"color": "blue"},
        },
    }
    return dashboard(
        "cw-alerts",
        "Citywatch · Alerts and tickets 告警与工单",
        [
            panel(
                1,
                "Open alerts 未消除告警",
                "stat",
                (0, 0, 6, 6),
                [target("open_alerts")],
                defaults={"color": {"mode": "thresholds"}, "thresholds": thresholds((None, "green"), (1.0, "red"))},
                options={
                    "reduceOptions": {"calcs": ["count"], "fields": "/^alert_id$/", "values": False},
                    "colorMode": "background",
                },
            ),
            panel(
                2,
                "Alerts opened per interval, by rule 新增告警",
                "timeseries",
                (6, 0, 18, 6),
                [target("alerts_opened")],
                defaults={"unit": "short", "custom": {"drawStyle": "bars"}},
            ),
            panel(
                3,
                "Open alerts 未消除告警",
                "table",
                (0, 6, 14, 12),
                [target("open_alerts")],
                overrides=[
                    {
                        "matcher": {"id": "byName", "options": "severity"},
                        "properties": [
                            {"id": "mappings", "value": [severity]},
                            {"id": "custom.cellOptions", "value": {"type": "color-background"}},
                        ],
                    }
                ],
            ),
            panel(4, "Open tickets 未结工单", "table", (14, 6, 10, 12), [target("open_tickets")]),
        ],
        [_district()],
        time_from="now-24h",
    )


def facilities_board() -> Json:
    """Return the facilities dashboard: fill levels and forecast time to full."""
    return dashboard(
        "cw-facilities",
        "Citywatch · Facilities 压缩站与垃圾箱",
        [
            panel(
                1,
                "Fill ratio 满溢率",
                "timeseries",
                (0, 0, 16, 10),
                [target("facility_fill")],
                defaults={
                    "unit": "percentunit",
                    "min": 0,
                    "max": 1.1,
                    "thresholds": FILL_STEPS,
                    "custom": {"thresholdsStyle": {"mode": "line+area"}},
                },
            ),
            panel(
                2,
                "Now 当前",
                "bargauge",
                (16, 0, 8, 10),
                [target("facilities_map")],
                defaults={
                    "unit": "percentunit",
                    "min": 0,
                    "max": 1,
                    "thresholds": FILL_STEPS,
                    "color": {"mode": "thresholds"},
                },
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^fill_ratio$/", "values": True},
                    "displayMode": "lcd",
                    "orientation": "horizontal",
                },
            ),
            panel(
                3,
                "Forecast time to full 预计满溢时间",
                "table",
                (0, 10, 24, 8),
                [target("facility_forecast")],
                overrides=[
                    _threshold_override(
                        "hours_to_full", thresholds((None, "red"), (1.0, "orange"), (4.0, "green")), "h"
                    ),
                    _threshold_override("fill_ratio", FILL_STEPS, "percentunit"),
                ],
            ),
        ],
        [_district(), variable("kind", "Kind 类型", "facility", "facility_kind")],
        time_from="now-6h",
    )


def sites_board(rules: RuleParams | None = None) -> Json:
    """Return the construction sites dashboard: PM10 and noise against the city's limits, day and night."""
    rules = rules or RuleParams()
    limit_style = {
        "custom": {"lineStyle": {"fill": "dash", "dash": [10, 10]}, "lineWidth": 2},
        "color": {"mode": "fixed", "fixedColor": "red"},
    }

    def limit_override(field: str) -> Json:
        props = [{"id": k, "value": v} for k, v in limit_style.items()]
        return {"matcher": {"id": "byRegexp", "options": f".*{field}.*"}, "properties": props}

    return dashboard(
        "cw-sites",
        "Citywatch · Construction sites 工地扬尘与噪声",
        [
            panel(
                1,
                "PM10 vs limit, background stations 颗粒物、限值与背景站",
                "timeseries",
                (0, 0, 12, 10),
                [target("site_pm10"), target("background_pm10", "B")],
                defaults={
                    "unit": UNIT_PM10,
                    "min": 0,
                    "thresholds": pm10_steps(rules),
                    "custom": {"thresholdsStyle": {"mode": "dashed"}},
                },
                overrides=[limit_override("pm10_limit")],
            ),
            panel(
                2,
                noise_title(rules),
                "timeseries",
                (12, 0, 12, 10),
                [target("site_noise")],
                defaults={"unit": UNIT_NOISE, "min": 30},
                overrides=[limit_override("noise_limit")],
            ),
            panel(
                3,
                "Readings over the limit, day / night 超标率（昼/夜）",
                "table",
                (0, 10, 24, 8),
                [target("site_exceedance")],
                overrides=[
                    _threshold_override(f, thresholds((None, "green"), (1.0, "orange"), (10.0, "red")), "percent")
                    for f in ("pm10_over_pct", "noise_over_pct")
                ],
            ),
        ],
        [_district(), variable("site", "Site 工地", "site", "site_id")],
        time_from="now-24h",
    )


def devices_board() -> Json:
    """Return the device health dashboard: online rate by company and kind, offline devices."""
    return dashboard(
        "cw-devices",
        "Citywatch · Device health 设备在线",
        [
            panel(
                1,
                "Online rate by company and kind 在线率",
                "bargauge",
                (0, 0, 14, 12),
                [target("device_online_rate")],
                defaults={
                    "unit": "percent",
                    "min": 0,
                    "max": 100,
                    "color": {"mode": "thresholds"},
                    "thresholds": thresholds((None, "red"), (80.0, "orange"), (95.0, "green")),
                },
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^_value$/", "values": True},
                    "displayMode": "gradient",
                    "orientation": "horizontal",
                },
            ),
            panel(2, "Offline devices 离线设备", "table", (14, 0, 10, 12), [target("devices_offline")]),
        ],
        [
            _district(),
            variable("company", "Company 企业", "device_status", "company"),
            variable("kind", "Kind 设备类型", "device_status", "device_kind"),
        ],
        time_from="now-24h",
        refresh="30s",
    )


def dashboards(rules: RuleParams | None = None, basemap: Basemap | MapSettings = "default") -> list[Json]:
    """Return every dashboard, in menu order, with the limits of the city's rules (None: the defaults)."""
    rules = rules or RuleParams()
    return [
        fleet_map(rules=rules, basemap=basemap),
        alerts_board(),
        facilities_board(),
        sites_board(rules),
        devices_board(),
        pipeline_board(),
    ]
