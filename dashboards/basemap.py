"""The fleet map's base map: which tiles it draws, and the datum its points must be in to land on them.

Positions are WGS-84 everywhere (terminals report it; city files are converted at load). Tiles of
AMap / Gaode (and Tencent) are drawn in GCJ-02, so a WGS-84 point lands 100-700 m off its street
there. With a GCJ-02 base map (``amap``, or a self-hosted ``xyz-gcj02`` mirror) the map's queries
shift every row to GCJ-02 in Flux (``toGcj02``: the published transform, the same as
``devices.datum.from_wgs84``; a test compares them on the real InfluxDB) and the corridor layer is
written in GCJ-02 too. Nothing else changes: tables, alerts and tickets keep WGS-84.

The choices (``CITYWATCH_MAP_BASEMAP``):

- ``default``: Grafana's default base layer (CARTO unless the server configures another), WGS-84.
- ``amap``: 高德 tiles, GCJ-02.
- ``tianditu``: 天地图 vector tiles and their label tiles, Web Mercator (``_w``) in CGCS2000, which is
  WGS-84 to within centimetres (the city loader takes it as WGS-84 too); needs
  ``CITYWATCH_MAP_TIANDITU_KEY`` (a browser key: the browser fetches the tiles, so viewers see it).
- ``xyz`` / ``xyz-gcj02``: any XYZ tile server, e.g. a self-hosted or offline one, from
  ``CITYWATCH_MAP_TILES_URL`` (``{x}``, ``{y}`` or ``{-y}``, ``{z}``), whose tiles are WGS-84 (OSM-style)
  or GCJ-02 (a mirror of a Chinese web map).
- ``none``: no tiles at all, for a network without the internet: the base layer is the city's district
  outlines, served by Grafana itself from ``dashboards/geo/districts.geojson``.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from devices.datum import Datum

Basemap = Literal["default", "amap", "tianditu", "xyz", "xyz-gcj02", "none"]
DATUM: dict[str, Datum] = {
    "default": "WGS-84",
    "amap": "GCJ-02",
    "tianditu": "WGS-84",
    "xyz": "WGS-84",
    "xyz-gcj02": "GCJ-02",
    "none": "WGS-84",
}
AMAP_TILES = "https://webrd01.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
DISTRICTS_SRC = "public/maps/citywatch/districts.geojson"
TILE_PLACEHOLDERS = (("{x}",), ("{y}", "{-y}"), ("{z}",))
Json = dict[str, Any]


class MapSettings(BaseModel):
    """The fleet map's base map and what it needs (``citywatch`` fills it from the ``CITYWATCH_MAP_*`` settings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basemap: Basemap = "default"
    tiles_url: str | None = Field(default=None, description="xyz / xyz-gcj02: the tile URL template")
    tiles_attribution: str = Field(default="", description="xyz / xyz-gcj02: the tiles' credit line")
    tianditu_key: SecretStr | None = Field(default=None, description="tianditu: the 天地图 key (tk)")

    @model_validator(mode="after")
    def _has_what_the_basemap_needs(self) -> Self:
        """Refuse a tile base map without its URL or key, naming the variable to set."""
        if self.basemap in ("xyz", "xyz-gcj02"):
            if not self.tiles_url:
                raise ValueError(f"basemap {self.basemap} needs CITYWATCH_MAP_TILES_URL")
            missing = [" or ".join(p) for p in TILE_PLACEHOLDERS if not any(s in self.tiles_url for s in p)]
            if missing:
                raise ValueError(f"CITYWATCH_MAP_TILES_URL lacks {', '.join(missing)}: {self.tiles_url}")
        if self.basemap == "tianditu" and not (self.tianditu_key and self.tianditu_key.get_secret_value()):
            raise ValueError("basemap tianditu needs CITYWATCH_MAP_TIANDITU_KEY (a 天地图 browser key)")
        return self


def map_settings(basemap: Basemap | MapSettings) -> MapSettings:
    """Return the base map's settings: as given, or those of a base map that needs no URL or key."""
    return basemap if isinstance(basemap, MapSettings) else MapSettings(basemap=basemap)


def tianditu_tiles(layer: str, key: str) -> str:
    """Return the URL template of a 天地图 Web Mercator layer (vec, cva, img, cia, ...) on its eight hosts."""
    return (
        f"https://t{{0-7}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
        f"&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
        f"&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={key}"
    )


def _xyz(name: str, url: str, attribution: str) -> Json:
    return {"type": "xyz", "name": name, "config": {"url": url, "attribution": attribution}}


def _districts() -> Json:
    style = {
        "color": {"fixed": "#5a6b7b"},
        "opacity": 0.08,
        "lineWidth": 2,
        "text": {"mode": "field", "field": "district", "fixed": ""},
        "textConfig": {"fontSize": 14, "textAlign": "center", "textBaseline": "middle"},
    }
    return {
        "type": "geojson",
        "name": "Districts 行政区 (no tiles)",
        "config": {"src": DISTRICTS_SRC, "rules": [], "style": style},
    }


def base_layer(tiles: MapSettings) -> Json:
    """Return the geomap's base layer for these settings."""
    kind = tiles.basemap
    if kind == "amap":
        return _xyz("高德地图 AMap (GCJ-02)", AMAP_TILES, "© 高德地图 AutoNavi")
    if kind == "tianditu":
        key = tiles.tianditu_key.get_secret_value() if tiles.tianditu_key else ""
        return _xyz("天地图 Tianditu (CGCS2000)", tianditu_tiles("vec", key), "© 天地图 Tianditu")
    if kind in ("xyz", "xyz-gcj02"):
        return _xyz(f"Tiles 瓦片 ({DATUM[kind]})", tiles.tiles_url or "", tiles.tiles_attribution)
    if kind == "none":
        return _districts()  # a geomap always draws a base layer (none set: CARTO, from the internet)
    return {"type": "default", "name": "Basemap"}


def overlay_layers(tiles: MapSettings) -> list[Json]:
    """Return the tile layers drawn over the base map (天地图's vector map has its labels apart)."""
    if tiles.basemap != "tianditu" or tiles.tianditu_key is None:
        return []
    return [_xyz("天地图注记 labels", tianditu_tiles("cva", tiles.tianditu_key.get_secret_value()), "")]


GCJ02_FLUX = """import "math"

gcjLat = (x, y) => -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(x: math.abs(x: x))
  + (20.0 * math.sin(x: 6.0 * x * math.pi) + 20.0 * math.sin(x: 2.0 * x * math.pi)) * 2.0 / 3.0
  + (20.0 * math.sin(x: y * math.pi) + 40.0 * math.sin(x: y / 3.0 * math.pi)) * 2.0 / 3.0
  + (160.0 * math.sin(x: y / 12.0 * math.pi) + 320.0 * math.sin(x: y * math.pi / 30.0)) * 2.0 / 3.0
gcjLon = (x, y) => 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(x: math.abs(x: x))
  + (20.0 * math.sin(x: 6.0 * x * math.pi) + 20.0 * math.sin(x: 2.0 * x * math.pi)) * 2.0 / 3.0
  + (20.0 * math.sin(x: x * math.pi) + 40.0 * math.sin(x: x / 3.0 * math.pi)) * 2.0 / 3.0
  + (150.0 * math.sin(x: x / 12.0 * math.pi) + 300.0 * math.sin(x: x / 30.0 * math.pi)) * 2.0 / 3.0
toGcj02 = (r) => {
  inside = r.lon >= 72.004 and r.lon <= 137.8347 and r.lat >= 0.8293 and r.lat <= 55.8271
  rad = r.lat / 180.0 * math.pi
  magic = 1.0 - 0.00669342162296594323 * math.sin(x: rad) * math.sin(x: rad)
  meridian = 6378245.0 * (1.0 - 0.00669342162296594323) / (magic * math.sqrt(x: magic)) * math.pi
  parallel = 6378245.0 / math.sqrt(x: magic) * math.cos(x: rad) * math.pi
  dlat = gcjLat(x: r.lon - 105.0, y: r.lat - 35.0) * 180.0 / meridian
  dlon = gcjLon(x: r.lon - 105.0, y: r.lat - 35.0) * 180.0 / parallel
  return if inside then {r with lon: r.lon + dlon, lat: r.lat + dlat} else r
}
"""


def on_basemap(query: str, basemap: Basemap) -> str:
    """Return a map query whose rows (with ``lon`` / ``lat`` columns) land right on the base map's tiles."""
    if DATUM[basemap] == "WGS-84":
        return query
    return f"{GCJ02_FLUX}\n{query}\n  |> map(fn: toGcj02)"
