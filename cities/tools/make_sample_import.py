"""Write cities/sample-import: a small bureau export (Shapefile, GeoJSON, CSV) for ``citywatch city import``.

Everything is FICTIONAL and placed near Wuhan. The files are shaped like real exports:

- ``gis/网格.shp`` (+ .shx .dbf .prj .cpg): the 万米单元网格 from the national GIS, in CGCS2000, with
  GBK attribute values and short upper-case DBF column names; one cell has a hole (a lake), one is a
  MultiPolygon (a cell split by a river);
- ``gis/*.geojson``: zones, sites, disposal sites and permit routes drawn on an AMap base map, so in
  GCJ-02 (the WGS-84 truth below is shifted with ``devices.datum.from_wgs84``);
- ``registry/*.csv``: companies (UTF-8 with BOM), terminals (UTF-8), vehicles (GBK, as office
  software exports it) and permits (UTF-8), with Chinese column names.

Run ``python -m cities.tools.make_sample_import`` to rewrite them (deterministic).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import shapefile

from devices.datum import from_wgs84

ROOT = Path(__file__).resolve().parents[1] / "sample-import"
CGCS2000_PRJ = (
    'GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",'
    'SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)

Ring = list[tuple[float, float]]


def box(west: float, south: float, east: float, north: float) -> Ring:
    """Return a closed clockwise ring (the Shapefile's exterior orientation)."""
    return [(west, south), (west, north), (east, north), (east, south), (west, south)]


def gcj(points: Ring) -> list[list[float]]:
    """Return WGS-84 points as they are drawn on an AMap (GCJ-02) base map, to 7 decimals."""
    lon, lat = from_wgs84([p[0] for p in points], [p[1] for p in points], "GCJ-02")
    return [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lon, lat, strict=True)]


def write_grid(gis: Path) -> None:
    """Write the grid shapefile: a cell with a hole and a cell in two parts, GBK attributes."""
    with shapefile.Writer(str(gis / "网格"), shapeType=shapefile.POLYGON, encoding="gbk") as shp:
        shp.field("BGID", "C", 15)
        shp.field("BGMC", "C", 40)
        shp.field("ZRDW", "C", 40)
        lake = list(reversed(box(114.296, 30.593, 114.300, 30.597)))  # a hole runs counter-clockwise
        shp.poly([box(114.290, 30.585, 114.310, 30.605), lake])
        shp.record("420106001001001", "水果湖社区1号网格", "水果湖街道城管中队")
        shp.poly([box(114.310, 30.585, 114.330, 30.594), box(114.310, 30.596, 114.330, 30.605)])
        shp.record("420106001002001", "东湖路社区1号网格", "水果湖街道城管中队")
    (gis / "网格.prj").write_text(CGCS2000_PRJ, encoding="ascii")
    (gis / "网格.cpg").write_text("GBK", encoding="ascii")


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": features}


def feature(properties: dict[str, Any], kind: str, coordinates: Any) -> dict[str, Any]:
    """Return one GeoJSON Feature."""
    return {"type": "Feature", "properties": properties, "geometry": {"type": kind, "coordinates": coordinates}}


def write_geojson(gis: Path) -> None:
    """Write zones, sites, disposal sites and routes in GCJ-02."""
    layers = {
        "禁行区.geojson": [
            feature(
                {"ZONE_ID": "JX01", "MC": "实验小学周边禁行区", "CX": "渣土车"},
                "Polygon",
                [gcj(box(114.314, 30.598, 114.318, 30.602))],
            )
        ],
        "工地.geojson": [
            feature(
                {
                    "GDBH": "GD01",
                    "GDMC": "东湖路安置房工地",
                    "JCSB": "site-gd01",
                    "JD": gcj([(114.2935, 30.5885)])[0][0],
                    "WD": gcj([(114.2935, 30.5885)])[0][1],
                    "SGDW": "楚天建工集团有限公司",
                },
                "Polygon",
                [gcj(box(114.2925, 30.5875, 114.2945, 30.5885))],
            )
        ],
        "消纳场.geojson": [
            feature(
                {"XNCBH": "XN01", "XNCMC": "青山建筑垃圾消纳场"},
                "Polygon",
                [gcj(box(114.3265, 30.6015, 114.3285, 30.6035))],
            )
        ],
        "准运线路.geojson": [
            feature(
                {"XLBH": "XL-2026-001"},
                "LineString",
                gcj([(114.2935, 30.5885), (114.2935, 30.592), (114.3275, 30.592), (114.3275, 30.6015)]),
            ),
            feature(
                {"XLBH": "XL-2026-002"},
                "MultiLineString",
                [
                    gcj([(114.2935, 30.5885), (114.305, 30.5885)]),
                    gcj([(114.305, 30.5885), (114.3275, 30.5885), (114.3275, 30.6015)]),
                ],
            ),
        ],
    }
    for name, features in layers.items():
        (gis / name).write_text(json.dumps(collection(features), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def csv_text(rows: list[list[str]]) -> str:
    """Return rows as CSV text with CRLF line ends, as office software writes them."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


REGISTRIES: dict[str, tuple[str, list[list[str]]]] = {
    "企业.csv": ("utf-8-sig", [
        ["统一社会信用代码", "企业名称", "企业类型"],
        ["91420106MA4K0001X1", "武汉楚运渣土运输有限公司", "渣土运输"],
        ["91420106MA4K0002X2", "武汉洁城环卫服务有限公司", "环卫作业"],
    ]),
    "终端.csv": ("utf-8", [
        ["终端编号", "SIM卡号", "终端型号", "车牌号"],
        ["gps-zt01", "13900001001", "", "鄂A·D7001"],
        ["gps-zt02", "13900001002", "", "鄂A·D7002"],
        ["gps-hw01", "13900002001", "", "鄂A·H8001"],
    ]),
    "车辆.csv": ("gbk", [
        ["车牌号", "车辆类型", "所属企业", "备注"],
        ["鄂A·D7001", "渣土车", "91420106MA4K0001X1", ""],
        ["鄂A·D7002", "渣土车", "91420106MA4K0001X1", "新车"],
        ["鄂A·H8001", "垃圾车", "武汉洁城环卫服务有限公司", ""],
    ]),
    "准运证.csv": ("utf-8", [
        ["准运证号", "车牌号", "线路编号", "有效期起", "有效期止", "准运时段", "出土工地", "消纳场", "走廊宽度(米)"],
        ["ZY-2026-0001", "鄂A·D7001", "XL-2026-001", "2026/1/1", "2030/12/31", "22:00-06:00", "GD01", "XN01", "50"],
        ["ZY-2026-0002", "鄂A·D7002", "XL-2026-002", "2026年1月1日", "2030年12月31日", "", "GD01", "XN01", "60米"],
    ]),
}  # fmt: skip


def main() -> None:
    """Write every sample file."""
    gis, registry = ROOT / "gis", ROOT / "registry"
    gis.mkdir(parents=True, exist_ok=True)
    registry.mkdir(parents=True, exist_ok=True)
    write_grid(gis)
    write_geojson(gis)
    for name, (encoding, rows) in REGISTRIES.items():
        (registry / name).write_bytes(csv_text(rows).encode(encoding))


if __name__ == "__main__":
    main()
