"""GIS exports (GeoJSON and ESRI Shapefile) read into numbered features with checked GeoJSON-style geometry.

Every input is built in tmp_path: GeoJSON with json, shapefiles with pyshp's Writer (GBK and UTF-8 attributes,
with and without a .cpg, polygons with holes, multipolygons, polylines, points and null shapes).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import shapefile

from devices.importing.features import Feature, read_features
from devices.importing.problems import ImportFailed, Problem

CGCS2000_PRJ = (
    'GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",'
    'SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]'
)
# Shapefile rings: exteriors clockwise, holes counter-clockwise
SQUARE = [[114.0, 30.0], [114.0, 30.1], [114.1, 30.1], [114.1, 30.0], [114.0, 30.0]]
HOLE = [[114.02, 30.02], [114.04, 30.02], [114.04, 30.04], [114.02, 30.04], [114.02, 30.02]]
FAR_SQUARE = [[115.0, 31.0], [115.0, 31.1], [115.1, 31.1], [115.1, 31.0], [115.0, 31.0]]


def failure(path: Path, **kwargs: str) -> list[Problem]:
    with pytest.raises(ImportFailed) as raised:
        read_features(path, **kwargs)
    return raised.value.problems


def only(path: Path, **kwargs: str) -> Problem:
    problems = failure(path, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


# GeoJSON


def feature(geometry: Any, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def geojson(tmp_path: Path, features: list[Any], name: str = "grid.geojson", **extra: Any) -> Path:
    path = tmp_path / name
    document = {"type": "FeatureCollection", **extra, "features": features}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path


def test_geojson_collection_reads_every_supported_type(tmp_path: Path) -> None:
    polygon = {"type": "Polygon", "coordinates": [SQUARE[::-1], HOLE[::-1]]}
    features = [
        feature({"type": "Point", "coordinates": [114, 30.5, 21.5]}, 名称="  监测点一 ", 编号=1),
        feature({"type": "LineString", "coordinates": [[114.0, 30.0], [114.1, 30.1]]}),
        feature({"type": "MultiLineString", "coordinates": [[[114.0, 30.0], [114.1, 30.1]], [[115, 31], [115, 32]]]}),
        feature(polygon, 网格编码="420102001001"),
        feature({"type": "MultiPolygon", "coordinates": [[SQUARE], [FAR_SQUARE]]}),
    ]
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4490"}}
    result = read_features(geojson(tmp_path, features, crs=crs))
    assert result.crs == "urn:ogc:def:crs:EPSG::4490"
    assert [f.number for f in result.features] == [1, 2, 3, 4, 5]
    point, _, multiline, grid, multipolygon = result.features
    assert point == Feature(1, {"名称": "监测点一", "编号": 1}, {"type": "Point", "coordinates": [114.0, 30.5]})
    assert multiline.geometry["coordinates"][1] == [[115.0, 31.0], [115.0, 32.0]]
    assert grid.properties == {"网格编码": "420102001001"}
    assert grid.geometry == {"type": "Polygon", "coordinates": [SQUARE[::-1], HOLE[::-1]]}
    assert multipolygon.geometry == {"type": "MultiPolygon", "coordinates": [[SQUARE], [FAR_SQUARE]]}


def test_geojson_single_feature_without_properties_or_crs(tmp_path: Path) -> None:
    path = tmp_path / "site.json"
    path.write_text(
        json.dumps({"type": "Feature", "properties": None, "geometry": {"type": "Point", "coordinates": [1, 2]}})
    )
    result = read_features(path)
    assert result == read_features(path)
    assert (result.file, result.crs) == (str(path), None)
    assert result.features == (Feature(1, {}, {"type": "Point", "coordinates": [1.0, 2.0]}),)


def test_geojson_in_gbk_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "sites.geojson"
    path.write_bytes(
        json.dumps(feature({"type": "Point", "coordinates": [1, 2]}, 名称="工地"), ensure_ascii=False).encode("gbk")
    )
    assert read_features(path).features[0].properties == {"名称": "工地"}


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "grid.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [\n  {"type": "Feature",}\n]}\n')
    problem = only(path)
    assert (problem.file, problem.feature) == (str(path), None)
    assert "not valid JSON: Expecting property name enclosed in double quotes at line 3, column 22" in problem.message


@pytest.mark.parametrize(
    ("document", "phrase"),
    [
        ({"type": "Polygon", "coordinates": [SQUARE]}, "but type 'Polygon'"),
        ([1, 2], "but a JSON list"),
        ({"type": "FeatureCollection", "features": {}}, "its 'features' is {}"),
    ],
)
def test_geojson_that_is_not_features_is_import_failed(tmp_path: Path, document: Any, phrase: str) -> None:
    path = tmp_path / "grid.geojson"
    path.write_text(json.dumps(document))
    problem = only(path)
    assert "expected a GeoJSON FeatureCollection or Feature" in problem.message
    assert phrase in problem.message


GOOD_POINT = {"type": "Point", "coordinates": [114.0, 30.0]}


@pytest.mark.parametrize(
    ("geometry", "phrase"),
    [
        (None, "no geometry (it is missing or null)"),
        (
            {"type": "MultiPoint", "coordinates": [[1, 2]]},
            "unsupported geometry type 'MultiPoint'; expected one of Point",
        ),
        ({"type": "GeometryCollection", "geometries": []}, "unsupported geometry type 'GeometryCollection'"),
        ({"type": "Point"}, "the Point has no coordinates"),
        ({"type": "Point", "coordinates": ["114", 30]}, "the point has a non-numeric coordinate (got '114')"),
        ({"type": "Point", "coordinates": [True, 30]}, "non-numeric coordinate (got True)"),
        ({"type": "Point", "coordinates": [114]}, "the point is not a [lon, lat] position (got [114])"),
        (
            {"type": "LineString", "coordinates": [[114, 30], [float("nan"), 30]]},
            "point 2 of the line has a non-finite",
        ),
        ({"type": "LineString", "coordinates": [[114, float("inf")]] * 2}, "non-finite coordinate (got inf)"),
        ({"type": "LineString", "coordinates": [[114, 30]]}, "the line has 1 point; it needs at least 2"),
        (
            {"type": "MultiLineString", "coordinates": [[[1, 2], [3, 4]], [[1, 2]]]},
            "line 2 has 1 point; it needs at least 2",
        ),
        ({"type": "MultiLineString", "coordinates": []}, "the multilinestring has no lines"),
        ({"type": "Polygon", "coordinates": []}, "the polygon has no rings"),
        (
            {"type": "Polygon", "coordinates": [SQUARE[:2]]},
            "exterior ring of the polygon has 2 points; it needs at least 4 (the closing point included)",
        ),
        ({"type": "Polygon", "coordinates": [SQUARE, HOLE[:3]]}, "hole 1 of the polygon has 3 points"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 1], [0, 0]]]}, "fewer than 3 distinct points"),
        (
            {"type": "Polygon", "coordinates": [SQUARE[:4]]},
            "exterior ring of the polygon is not closed: it starts at [114.0, 30.0] but ends at [114.1, 30.0]",
        ),
        (
            {"type": "MultiPolygon", "coordinates": [[SQUARE], [FAR_SQUARE[:3]]]},
            "exterior ring of polygon 2 has 3 points",
        ),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], "x", [1, 1], [0, 0]]]},
            "point 2 of exterior ring of the polygon is not a [lon, lat] position",
        ),
    ],
)
def test_bad_geometry_names_the_feature(tmp_path: Path, geometry: Any, phrase: str) -> None:
    path = geojson(tmp_path, [feature(GOOD_POINT), feature(geometry)])
    problem = only(path)
    assert (problem.file, problem.feature, problem.row, problem.column) == (str(path), 2, None, None)
    assert phrase in problem.message


def test_feature_missing_its_geometry_member(tmp_path: Path) -> None:
    path = geojson(tmp_path, [{"type": "Feature", "properties": {}}])
    assert only(path).feature == 1


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ({"type": "Polygon", "coordinates": [SQUARE]}, "not a GeoJSON Feature: type 'Polygon'"),
        ("feature", "not a GeoJSON Feature: a JSON str"),
        ({"type": "Feature", "properties": [1], "geometry": GOOD_POINT}, "its properties are not an object (got [1])"),
    ],
)
def test_malformed_feature_names_the_feature(tmp_path: Path, raw: Any, phrase: str) -> None:
    problem = only(geojson(tmp_path, [raw]))
    assert (problem.feature, problem.message) == (1, phrase)


def test_every_bad_feature_is_reported_at_once(tmp_path: Path) -> None:
    features = [
        feature(GOOD_POINT),
        feature(None),
        feature({"type": "LineString", "coordinates": [[1, 2]]}),
        feature(GOOD_POINT),
        feature({"type": "Polygon", "coordinates": [SQUARE[:2]]}),
    ]
    problems = failure(geojson(tmp_path, features))
    assert [p.feature for p in problems] == [2, 3, 5]
    assert "polygon has 2 points" in str(ImportFailed(problems)).splitlines()[2]


def test_empty_collection_has_no_features(tmp_path: Path) -> None:
    assert read_features(geojson(tmp_path, [])).features == ()


@pytest.mark.parametrize("name", ["grid.kml", "grid.dbf", "grid"])
def test_unknown_suffix_is_import_failed(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("x")
    assert "unsupported file type" in only(path).message


def test_missing_geojson_is_import_failed(tmp_path: Path) -> None:
    assert only(tmp_path / "none.geojson").message == "file not found"


# ESRI Shapefile


def shp(
    tmp_path: Path,
    shape_type: int,
    draw: Callable[[shapefile.Writer], None],
    *,
    encoding: str = "utf-8",
    name: str = "grid",
) -> Path:
    """Write a shapefile: fields 名称 (text), 日期 (date), 户数 (int) and 面积 (float); ``draw`` adds shapes and records."""
    with shapefile.Writer(tmp_path / name, shapeType=shape_type, encoding=encoding) as writer:
        writer.field("名称", "C", 40)
        writer.field("日期", "D")
        writer.field("户数", "N", 10, 0)
        writer.field("面积", "N", 12, 3)
        draw(writer)
    return tmp_path / f"{name}.shp"


def districts(writer: shapefile.Writer) -> None:
    writer.poly([SQUARE, HOLE])
    writer.record("  江岸区", date(2026, 12, 5), 1200, 80.25)
    writer.poly([SQUARE, FAR_SQUARE])
    writer.record("江汉区", None, None, None)


def test_shapefile_utf8_polygons_with_holes_and_multipolygons(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts)
    result = read_features(path)
    assert (result.file, result.crs) == (str(path), None)
    jiangan, jianghan = result.features
    assert (jiangan.number, jianghan.number) == (1, 2)
    assert jiangan.properties == {"名称": "江岸区", "日期": date(2026, 12, 5), "户数": 1200, "面积": 80.25}
    assert jianghan.properties == {"名称": "江汉区", "日期": None, "户数": None, "面积": None}
    assert jiangan.geometry["type"] == "Polygon"
    exterior, hole = jiangan.geometry["coordinates"]
    assert sorted(exterior[:-1]) == sorted(SQUARE[:-1])
    assert sorted(hole[:-1]) == sorted(HOLE[:-1])
    assert jianghan.geometry["type"] == "MultiPolygon"
    assert [len(polygon) for polygon in jianghan.geometry["coordinates"]] == [1, 1]
    assert all(type(xy) is list and type(xy[0]) is float for xy in exterior)


@pytest.mark.parametrize("label", ["GBK", "936", "cp936", "GB2312", "ANSI 936", "GB18030\n"])
def test_shapefile_gbk_with_cpg(tmp_path: Path, label: str) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts, encoding="gbk")
    path.with_suffix(".cpg").write_text(label)
    names = [f.properties["名称"] for f in read_features(path).features]
    assert names == ["江岸区", "江汉区"]


def test_shapefile_gbk_without_cpg_falls_back_to_gb18030(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts, encoding="gbk")
    assert [f.properties["名称"] for f in read_features(path).features] == ["江岸区", "江汉区"]


def test_given_encoding_beats_the_cpg(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts, encoding="gbk")
    path.with_suffix(".cpg").write_text("UTF-8")
    assert read_features(path, encoding="gbk").features[0].properties["名称"] == "江岸区"


def test_cpg_that_does_not_fit_the_data_is_import_failed(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts, encoding="gbk")
    path.with_suffix(".cpg").write_text("UTF-8")
    problem = only(path)
    assert (problem.file, problem.feature) == (str(path), None)
    assert "cannot read the attribute table as utf-8 (from grid.cpg)" in problem.message
    assert "give the right encoding" in problem.message


def test_unknown_cpg_label_is_ignored_and_the_encoding_guessed(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts, encoding="gbk")
    path.with_suffix(".cpg").write_text("System")
    assert read_features(path).features[1].properties["名称"] == "江汉区"


def test_unknown_encoding_given_is_import_failed(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts)
    assert "unknown encoding 'klingon'" in only(path, encoding="klingon").message


def test_prj_names_the_coordinate_system(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts)
    path.with_suffix(".prj").write_text(CGCS2000_PRJ)
    assert read_features(path).crs == "GCS_China_Geodetic_Coordinate_System_2000"


def roads(writer: shapefile.Writer) -> None:
    writer.line([[[114.0, 30.0], [114.1, 30.0], [114.1, 30.1]]])
    writer.record("解放大道", None, None, None)
    writer.line([[[114.0, 30.0], [114.1, 30.0]], [[115.0, 31.0], [115.1, 31.0]]])
    writer.record("二环线", None, None, None)


def test_shapefile_polylines(tmp_path: Path) -> None:
    single, multi = read_features(shp(tmp_path, shapefile.POLYLINE, roads)).features
    assert single.geometry == {"type": "LineString", "coordinates": [[114.0, 30.0], [114.1, 30.0], [114.1, 30.1]]}
    assert multi.geometry == {
        "type": "MultiLineString",
        "coordinates": [[[114.0, 30.0], [114.1, 30.0]], [[115.0, 31.0], [115.1, 31.0]]],
    }


def test_shapefile_points_drop_z_and_m(tmp_path: Path) -> None:
    def stations(writer: shapefile.Writer) -> None:
        writer.pointz(114.3, 30.6, 21.0, 5.0)
        writer.record("监测站", None, 3, 1.0)

    (station,) = read_features(shp(tmp_path, shapefile.POINTZ, stations)).features
    assert station.geometry == {"type": "Point", "coordinates": [114.3, 30.6]}
    assert station.properties["户数"] == 3


def test_null_shape_names_the_feature(tmp_path: Path) -> None:
    def with_null(writer: shapefile.Writer) -> None:
        districts(writer)
        writer.null()
        writer.record("未绘制", None, None, None)

    path = shp(tmp_path, shapefile.POLYGON, with_null)
    problem = only(path)
    assert (problem.file, problem.feature) == (str(path), 3)
    assert "null shape" in problem.message


def test_bad_shapefile_ring_names_the_feature(tmp_path: Path) -> None:
    def degenerate(writer: shapefile.Writer) -> None:
        districts(writer)
        writer.poly([[[114.0, 30.0], [114.1, 30.1], [114.0, 30.0]]])
        writer.record("退化", None, None, None)

    problem = only(shp(tmp_path, shapefile.POLYGON, degenerate))
    assert problem.feature == 3
    assert "has 3 points; it needs at least 4" in problem.message


@pytest.mark.parametrize("missing", [[".dbf"], [".shx"], [".dbf", ".shx"]])
def test_missing_sidecar_is_named(tmp_path: Path, missing: list[str]) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts)
    for suffix in missing:
        path.with_suffix(suffix).unlink()
    problems = failure(path)
    assert all(problem.file == str(path) for problem in problems)
    assert sorted(p.message.split(" ")[0] for p in problems) == sorted(f"grid{suffix}" for suffix in missing)
    assert all("is missing" in problem.message for problem in problems)


def test_upper_case_sidecars_are_found(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts)
    for suffix in (".dbf", ".shx"):
        path.with_suffix(suffix).rename(path.with_suffix(suffix.upper()))
    assert len(read_features(path).features) == 2


def test_missing_shp_is_import_failed(tmp_path: Path) -> None:
    assert only(tmp_path / "grid.shp").message == "file not found"


def test_damaged_shapefile_is_import_failed(tmp_path: Path) -> None:
    path = shp(tmp_path, shapefile.POLYGON, districts)
    path.write_bytes(b"not a shapefile at all")
    problem = only(path)
    assert "not a readable shapefile" in problem.message
