"""What Grafana 11.3 accepts in a dashboard, as far as our boards go: reference lists taken from its source.

Only the ids and keys our dashboards use, and their near neighbours, so a typo or a look-alike
character fails a test instead of reaching a screen. Where each list comes from (paths in the
grafana/grafana repository; the npm packages @grafana/data@11.3.0 and @grafana/schema@11.3.0 ship
the same sources, the schema ones generated with ``pluginVersion = "11.3.0-pre"``):

- units: packages/grafana-data/src/valueFormats/categories.ts (``id:`` of each format) and, for the
  custom forms, valueFormats.ts ``getValueFormat`` (an unknown id is shown verbatim after the value)
- panel options: packages/grafana-schema/src/raw/composable/<panel>/panelcfg/x/*PanelCfg_types.gen.ts
  and the common types they extend, packages/grafana-schema/src/common/common.gen.ts
- field config and panel keys: packages/grafana-schema/src/raw/dashboard/x/dashboard_types.gen.ts
- reducers: packages/grafana-data/src/transformations/fieldReducer.ts ``ReducerID``
- matchers: packages/grafana-data/src/transformations/matchers/ids.ts
- geomap layer types: public/app/plugins/panel/geomap/layers/registry.ts (``default``),
  style/markers.ts (marker shapes),
  layers/basemaps/{carto,esri,osm,generic}.ts and layers/data/*.ts (the ids pinned by
  layers/data/layerIds.test.ts); layer options: MapLayerOptions in common.gen.ts; layer configs:
  layers/basemaps/generic.ts ``XYZConfig``, layers/data/geojsonLayer.ts ``GeoJSONMapperConfig``,
  markersLayer.tsx ``MarkersConfig``, routeLayer.tsx ``RouteConfig``; styles: geomap/style/types.ts
"""

from __future__ import annotations

# categories.ts. Beware look-alikes: concentration ids have the Greek mu U+03BC ("conμgm3"), the
# time unit the micro sign U+00B5 ("µs").
UNITS = frozenset(
    {
        # Misc
        "none",
        "string",
        "short",
        "sishort",
        "percent",
        "percentunit",
        "humidity",
        "dB",
        # Concentration
        "ppm",
        "conppb",
        "conngm3",
        "conngNm3",
        "con\u03bcgm3",
        "con\u03bcgNm3",
        "conmgm3",
        "conmgNm3",
        "congm3",
        "congNm3",
        # Data (IEC)
        "bits",
        "bytes",
        "kbytes",
        "mbytes",
        "gbytes",
        # Time
        "hertz",
        "ns",
        "\u00b5s",
        "ms",
        "s",
        "m",
        "h",
        "d",
        "dtdurationms",
        "dtdurations",
        # Throughput
        "cps",
        "ops",
        "reqps",
        "rps",
        "wps",
        "iops",
        "eps",
        "mps",
        "recps",
        "rowsps",
        "cpm",
        "opm",
        "reqpm",
        "rpm",
        "wpm",
        "epm",
        "mpm",
        "recpm",
        "rowspm",
        # Velocity, Length
        "velocityms",
        "velocitykmh",
        "lengthm",
        "lengthkm",
    }
)
# valueFormats.ts getValueFormat: "<key>:<text>" forms it reads before falling back to the verbatim id.
CUSTOM_UNIT_KEYS = ("prefix", "suffix", "time", "si", "count", "currency", "bool")

# Core panel plugin ids (public/app/plugins/panel/<dir>/plugin.json "id") and the dashboard's row type.
PANEL_TYPES = frozenset(
    {"timeseries", "stat", "gauge", "bargauge", "table", "geomap", "text", "piechart", "barchart", "state-timeline"}
)
ROW_KEYS = frozenset({"collapsed", "datasource", "gridPos", "id", "panels", "repeat", "title", "type"})
PANEL_KEYS = frozenset(
    {
        "datasource",
        "description",
        "fieldConfig",
        "gridPos",
        "id",
        "interval",
        "links",
        "maxDataPoints",
        "options",
        "pluginVersion",
        "targets",
        "timeFrom",
        "timeShift",
        "title",
        "transformations",
        "transparent",
        "type",
    }
)
FIELD_CONFIG_KEYS = frozenset(
    {
        "color",
        "custom",
        "decimals",
        "description",
        "displayName",
        "displayNameFromDS",
        "filterable",
        "links",
        "mappings",
        "max",
        "min",
        "noValue",
        "path",
        "thresholds",
        "unit",
        "writeable",
    }
)
COLOR_MODES = frozenset({"fixed", "thresholds", "palette-classic", "palette-classic-by-name", "shades"})
MAPPING_TYPES = frozenset({"value", "range", "regex", "special"})

# Options per panel type: *PanelCfg_types.gen.ts Options with the common interfaces they extend.
_SINGLE_STAT = {"reduceOptions", "orientation", "text"}
PANEL_OPTIONS: dict[str, frozenset[str]] = {
    "stat": frozenset(
        _SINGLE_STAT
        | {
            "colorMode",
            "graphMode",
            "justifyMode",
            "percentChangeColorMode",
            "showPercentChange",
            "textMode",
            "wideLayout",
        }
    ),
    "gauge": frozenset(
        _SINGLE_STAT | {"minVizHeight", "minVizWidth", "showThresholdLabels", "showThresholdMarkers", "sizing"}
    ),
    "bargauge": frozenset(
        _SINGLE_STAT
        | {
            "legend",
            "displayMode",
            "maxVizHeight",
            "minVizHeight",
            "minVizWidth",
            "namePlacement",
            "showUnfilled",
            "sizing",
            "valueMode",
        }
    ),
    "table": frozenset({"cellHeight", "footer", "frameIndex", "showHeader", "showTypeIcons", "sortBy"}),
    "timeseries": frozenset({"legend", "tooltip", "orientation", "timezone"}),
    "geomap": frozenset({"basemap", "controls", "layers", "tooltip", "view"}),
}
OPTION_VALUES: dict[tuple[str, str], frozenset[str]] = {
    ("stat", "colorMode"): frozenset({"background", "background_solid", "none", "value"}),
    ("stat", "graphMode"): frozenset({"area", "line", "none"}),
    ("stat", "textMode"): frozenset({"auto", "name", "none", "value", "value_and_name"}),
    ("stat", "orientation"): frozenset({"auto", "horizontal", "vertical"}),
    ("bargauge", "displayMode"): frozenset({"basic", "gradient", "lcd"}),
    ("bargauge", "orientation"): frozenset({"auto", "horizontal", "vertical"}),
}
REDUCE_OPTION_KEYS = frozenset({"calcs", "fields", "limit", "values"})
REDUCERS = frozenset(
    {"sum", "max", "min", "mean", "last", "first", "count", "range", "delta", "firstNotNull", "lastNotNull"}
)
SORT_BY_KEYS = frozenset({"desc", "displayName"})

# GraphFieldConfig (timeseries fieldConfig.defaults.custom) and TableFieldOptions (table's custom).
TIMESERIES_CUSTOM = frozenset(
    {
        "drawStyle",
        "gradientMode",
        "insertNulls",
        "thresholdsStyle",
        "transform",
        "lineColor",
        "lineInterpolation",
        "lineStyle",
        "lineWidth",
        "spanNulls",
        "fillBelowTo",
        "fillColor",
        "fillOpacity",
        "pointColor",
        "pointSize",
        "pointSymbol",
        "showPoints",
        "axisBorderShow",
        "axisCenteredZero",
        "axisColorMode",
        "axisGridShow",
        "axisLabel",
        "axisPlacement",
        "axisSoftMax",
        "axisSoftMin",
        "axisWidth",
        "scaleDistribution",
        "barAlignment",
        "barMaxWidth",
        "barWidthFactor",
        "stacking",
        "hideFrom",
    }
)
TABLE_CUSTOM = frozenset(
    {"align", "cellOptions", "displayMode", "filterable", "hidden", "hideHeader", "inspect", "minWidth", "width"}
)
DRAW_STYLES = frozenset({"bars", "line", "points"})
SHOW_POINTS = frozenset({"auto", "always", "never"})
THRESHOLDS_STYLES = frozenset({"area", "dashed", "dashed+area", "line", "line+area", "off", "series"})
LINE_STYLE_FILLS = frozenset({"solid", "dash", "dot", "square"})
TABLE_CELL_TYPES = frozenset(
    {"auto", "basic", "color-background", "color-background-solid", "color-text", "gauge", "json-view", "sparkline"}
)

# Matchers: fieldConfig.overrides[].matcher.id and a geomap layer's filterData.id.
FIELD_MATCHERS = frozenset({"byName", "byNames", "byRegexp", "byType", "byFrameRefID", "byValue"})
FRAME_MATCHERS = frozenset({"byName", "byRefId", "byIndex"})

# Geomap (panelcfg.gen.ts, MapLayerOptions in common.gen.ts, the layer registries and style/types.ts).
BASE_LAYER_TYPES = frozenset({"default", "carto", "esri-xyz", "osm-standard", "xyz"})
DATA_LAYER_TYPES = frozenset(
    {"markers", "heatmap", "geojson", "dynamic-geojson", "dayNight", "route", "photos", "network", "last-point-tracker"}
)
LAYER_KEYS = frozenset({"type", "name", "config", "filterData", "location", "opacity", "tooltip"})
LAYER_CONFIG: dict[str, frozenset[str]] = {
    "default": frozenset(),
    "xyz": frozenset({"url", "attribution", "minZoom", "maxZoom"}),
    "geojson": frozenset({"src", "rules", "style"}),
    "markers": frozenset({"style", "showLegend"}),
    "route": frozenset({"style", "arrow"}),
}
LOCATION_KEYS = frozenset({"mode", "geohash", "latitude", "longitude", "lookup", "gazetteer", "wkt"})
LOCATION_MODES = frozenset({"auto", "coords", "geohash", "lookup"})
STYLE_KEYS = frozenset(
    {"color", "opacity", "lineWidth", "size", "symbol", "symbolAlign", "text", "textConfig", "rotation"}
)
TEXT_CONFIG_KEYS = frozenset({"fontSize", "offsetX", "offsetY", "textAlign", "textBaseline"})
VIEW_KEYS = frozenset(
    {"allLayers", "id", "lastOnly", "lat", "layer", "lon", "maxZoom", "minZoom", "padding", "shared", "zoom"}
)
VIEW_IDS = frozenset({"coords", "fit", "zero"})
CONTROL_KEYS = frozenset({"mouseWheelZoom", "showAttribution", "showDebug", "showMeasure", "showScale", "showZoom"})
TOOLTIP_MODES = frozenset({"details", "none"})
# geomap/style/markers.ts MarkerShapePath: the built-in shapes, as img/icons/marker/<name>.svg
MARKER_SYMBOLS = frozenset({"circle", "square", "triangle", "star", "cross", "x-mark"})

# Dashboard variables (dashboard_types.gen.ts VariableModel, VariableRefresh; "definition", the query
# as the editor shows it, is the query variable's own: public/app/features/variables/types.ts).
VARIABLE_KEYS = frozenset(
    {
        "allValue",
        "current",
        "datasource",
        "definition",
        "description",
        "hide",
        "includeAll",
        "label",
        "multi",
        "name",
        "options",
        "query",
        "refresh",
        "regex",
        "skipUrlSync",
        "sort",
        "type",
    }
)
VARIABLE_REFRESH = frozenset({0, 1, 2})
DATASOURCE_TYPES = frozenset({"influxdb", "prometheus"})
