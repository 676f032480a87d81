"""The fleet map's base map: the default (WGS-84 tiles) or a Chinese web map's tiles, which are in GCJ-02.

Positions are WGS-84 everywhere (terminals report it; city files are converted at load). Tiles of
AMap / Gaode (and Tencent) are drawn in GCJ-02, so a WGS-84 point lands 100-700 m off its street
there. With ``CITYWATCH_MAP_BASEMAP=amap`` the map's queries shift every row to GCJ-02 in Flux
(``toGcj02``: the published transform, the same as ``devices.datum.from_wgs84``; a test compares
them on the real InfluxDB) and the corridor layer is written in GCJ-02 too. Nothing else changes:
tables, alerts and tickets keep WGS-84.
"""

from __future__ import annotations

from typing import Any, Literal

from devices.datum import Datum

Basemap = Literal["default", "amap"]
AMAP_TILES = "https://webrd01.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
LAYERS: dict[str, dict[str, Any]] = {
    "default": {"type": "default", "name": "Basemap"},
    "amap": {
        "type": "xyz",
        "name": "高德地图 AMap (GCJ-02)",
        "config": {"url": AMAP_TILES, "attribution": "© 高德地图 AutoNavi"},
    },
}
DATUM: dict[str, Datum] = {"default": "WGS-84", "amap": "GCJ-02"}

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
    if basemap == "default":
        return query
    return f"{GCJ02_FLUX}\n{query}\n  |> map(fn: toGcj02)"
