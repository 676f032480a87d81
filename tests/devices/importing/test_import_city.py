"""``citywatch city import`` on the sample bureau export: a checked city, or every problem with its place."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from citywatch.cli import main
from devices.importing.city import write_city
from devices.importing.problems import ImportFailed
from devices.importing.spec import read_spec
from devices.inventory import load_city
from rules.city_index import CityIndex
from rules.geometry import haversine_m

SAMPLE = Path(__file__).resolve().parents[3] / "cities" / "sample-import"
ROUTE_1_WGS84 = [(114.2935, 30.5885), (114.2935, 30.592), (114.3275, 30.592), (114.3275, 30.6015)]


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A copy of the sample export to spoil."""
    target = tmp_path / "export"
    shutil.copytree(SAMPLE, target)
    return target


def run_import(export: Path, *extra: str, out: Path | None = None) -> tuple[int, str, Path]:
    """Run the CLI on an export's mapping; return exit code, output and the out directory."""
    out = out or export.parent / "city"
    result = CliRunner().invoke(main, ["city", "import", str(export / "import.yaml"), "--out", str(out), *extra])
    return result.exit_code, result.output, out


def edit_csv(path: Path, row: int, column: str, value: str, encoding: str = "utf-8") -> None:
    """Set one cell of a registry CSV (row as a spreadsheet counts it: header is row 1)."""
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding).lstrip("\ufeff"))))
    rows[row - 1][rows[0].index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))


def problems_of(export: Path) -> list[str]:
    """Import an export through the library and return its problems as text."""
    with pytest.raises(ImportFailed) as failed:
        write_city(read_spec(export / "import.yaml", [], [], None), export, export.parent / "city")
    assert not (export.parent / "city").exists()
    return [str(p) for p in failed.value.problems]


def test_the_sample_export_imports_into_a_city_every_process_loads(sample: Path) -> None:
    code, output, out = run_import(sample)
    assert code == 0, output
    assert "city version 1: 2 grid, 1 zones, 1 sites, 1 disposal_sites, 3 vehicles, 2 permits" in output
    city = load_city(out)
    assert [c.name for c in city.grid] == ["水果湖社区1号网格", "东湖路社区1号网格"]  # GBK .dbf, via its .cpg
    assert [len(part) for part in city.grid[0].polygon] == [2] and len(city.grid[1].polygon) == 2  # hole; 2 parts
    vehicle = city.vehicle_by_terminal["gps-zt01"]
    assert (vehicle.plate, vehicle.kind, vehicle.company, vehicle.jt808_phone) == (
        "鄂A·D7001", "muck", "武汉楚运渣土运输有限公司", "13900001001",
    )  # fmt: skip
    first, second = city.permits
    assert [str(w) for w in first.windows] == ["22:00-06:00"] and second.windows == [] and second.corridor_m == 60.0
    assert str(second.valid_to) == "2030-12-31" and first.origin_sites == ["GD01"]
    route = np.asarray(first.route)
    assert haversine_m(route[:, 0], route[:, 1], *np.asarray(ROUTE_1_WGS84).T).max() < 0.05  # GCJ-02 undone
    index = CityIndex(city)
    assert index.cell_at(114.298, 30.595) is None  # the lake
    assert index.cell_at(114.320, 30.595) is None and index.cell_at(114.320, 30.590).code == "420106001002001"


def test_the_city_keeps_the_source_datums_and_declares_them(sample: Path) -> None:
    _, _, out = run_import(sample)
    meta = yaml.safe_load((out / "city.yaml").read_text(encoding="utf-8"))
    assert meta["datums"] == {
        "grid.geojson": "CGCS2000", "zones.yaml": "GCJ-02", "sites.yaml": "GCJ-02",
        "disposal_sites.yaml": "GCJ-02", "permits.yaml": "GCJ-02",
    }  # fmt: skip
    drawn = json.loads((sample / "gis" / "准运线路.geojson").read_text(encoding="utf-8"))
    written = yaml.safe_load((out / "permits.yaml").read_text(encoding="utf-8"))
    assert written[0]["route"] == drawn["features"][0]["geometry"]["coordinates"]  # as the GIS drew it


def test_an_xlsx_registry_imports_like_its_csv(sample: Path) -> None:
    rows = list(csv.reader(io.StringIO((sample / "registry" / "准运证.csv").read_text(encoding="utf-8"))))
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append([int(v) if v.isdigit() else v for v in row])
    book.save(sample / "registry" / "准运证.xlsx")
    code, output, out = run_import(sample, "--source", "permits=registry/准运证.xlsx")
    assert code == 0, output
    assert [p.corridor_m for p in load_city(out).permits] == [50.0, 60.0]


def test_a_base_city_keeps_its_other_files_and_gets_a_new_version(sample: Path, tmp_path: Path) -> None:
    first = tmp_path / "v1"
    assert run_import(sample, out=first)[0] == 0
    (first / "facilities.yaml").write_text(
        "- {facility_id: F1, name: 水果湖压缩站, kind: station, lon: 114.30, lat: 30.59, device_id: fill-f1}\n",
        encoding="utf-8",
    )
    code, output, second = run_import(sample, "--base", str(first), out=tmp_path / "v2")
    assert code == 0, output
    city = load_city(second)
    assert city.meta.version == 2 and [f.facility_id for f in city.facilities] == ["F1"]


@pytest.mark.parametrize(
    ("file", "row", "column", "value", "expected"),
    [
        ("准运证.csv", 2, "有效期止", "2030-13-45", "准运证.csv: row 2, column 有效期止: month must be in 1..12"),
        ("准运证.csv", 3, "有效期起", "明年", "准运证.csv: row 3, column 有效期起: not a date"),
        ("准运证.csv", 2, "准运时段", "夜间", "准运证.csv: row 2, column 准运时段: not a time window"),
        ("准运证.csv", 2, "走廊宽度(米)", "宽", "准运证.csv: row 2, column 走廊宽度(米): not a number"),
        ("准运证.csv", 2, "走廊宽度(米)", "5000", "准运证.csv: row 2, column 走廊宽度(米): corridor_m: Input should be less"),
        ("准运证.csv", 3, "车牌号", "鄂A·X0000", "准运证.csv: row 3, column 车牌号: no vehicle in the vehicles registry"),
        ("准运证.csv", 2, "线路编号", "XL-9", "准运证.csv: row 2, column 线路编号: no route line has route_id 'XL-9'"),
        ("准运证.csv", 3, "准运证号", "ZY-2026-0001", "row 3, column 准运证号: permit_id 'ZY-2026-0001' appears twice (first at row 2)"),
        ("准运证.csv", 2, "有效期起", "2031-01-01", "row 2: valid_to is before valid_from"),
        ("终端.csv", 3, "车牌号", "", "终端.csv: row 3, column 车牌号: the terminal names no plate"),
    ],
)  # fmt: skip
def test_a_bad_cell_names_its_file_row_and_column(
    sample: Path, file: str, row: int, column: str, value: str, expected: str
) -> None:
    edit_csv(sample / "registry" / file, row, column, value)
    assert any(expected in p for p in problems_of(sample)), problems_of(sample)


def test_gbk_registry_cells_are_checked_in_their_encoding(sample: Path) -> None:
    edit_csv(sample / "registry" / "车辆.csv", 3, "车辆类型", "洒水车", encoding="gbk")
    edit_csv(sample / "registry" / "车辆.csv", 4, "所属企业", "不存在环卫公司", encoding="gbk")
    problems = problems_of(sample)
    assert any("车辆.csv: row 3, column 车辆类型: unknown vehicle kind '洒水车'" in p for p in problems)
    assert any("车辆.csv: row 4, column 所属企业: unknown company '不存在环卫公司'" in p for p in problems)


def test_values_map_a_registry_code_onto_a_kind(sample: Path) -> None:
    edit_csv(sample / "registry" / "车辆.csv", 3, "车辆类型", "重型自卸货车", encoding="gbk")
    mapping = yaml.safe_load((sample / "import.yaml").read_text(encoding="utf-8"))
    mapping["sources"]["vehicles"]["values"] = {"kind": {"重型自卸货车": "muck"}}
    (sample / "import.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    code, output, out = run_import(sample)
    assert code == 0, output
    assert load_city(out).vehicle_by_terminal["gps-zt02"].kind == "muck"


def test_bad_geometry_names_the_feature(sample: Path) -> None:
    layer = sample / "gis" / "禁行区.geojson"
    data = json.loads(layer.read_text(encoding="utf-8"))
    data["features"].append(dict(data["features"][0], properties={"ZONE_ID": "JX02", "MC": "线", "CX": "渣土车"},
                                 geometry={"type": "LineString", "coordinates": [[114.3, 30.6], [114.31, 30.6]]}))  # fmt: skip
    data["features"][0]["geometry"]["coordinates"][0][1] = [114.32, 95.0]
    layer.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    problems = problems_of(sample)
    assert any("禁行区.geojson: feature 1: polygon: " in p and "less than or equal to 90" in p for p in problems), (
        problems
    )
    assert any(
        "禁行区.geojson: feature 2: geometry must be a Polygon or MultiPolygon, got 'LineString'" in p for p in problems
    )


def test_a_cross_file_problem_is_found_before_anything_is_written(sample: Path) -> None:
    edit_csv(sample / "registry" / "准运证.csv", 2, "出土工地", "GD99")
    assert any(p.startswith("(city check)") and "unknown origin site 'GD99'" in p for p in problems_of(sample))


def test_the_cli_lists_every_problem_and_writes_nothing(sample: Path, tmp_path: Path) -> None:
    edit_csv(sample / "registry" / "准运证.csv", 2, "有效期止", "x")
    edit_csv(sample / "registry" / "准运证.csv", 3, "线路编号", "XL-9")
    code, output, out = run_import(sample, "--report", str(tmp_path / "report.txt"))
    assert code == 1 and not out.exists() and "Traceback" not in output
    assert "2 problem(s); nothing was written:" in output
    assert (tmp_path / "report.txt").read_text(encoding="utf-8").count("准运证.csv: row") == 2


@pytest.mark.parametrize(
    ("args", "mapping", "expected"),
    [
        ([], "sources: [1, 2]", "import.yaml: sources: Input should be a valid dictionary"),
        ([], "datum: UTM\nsources: {}", "import.yaml: datum: unknown datum 'UTM'"),
        ([], "sources: {vehicles: {file: v.csv, fields: {plate: a, colour: b}}}", "unknown field 'colour'"),
        ([], "sources: {vehicles: {file: v.csv, fields: {plate: a}}}", "map the required field(s) ['kind', 'company']"),
        ([], ": : :", "cannot be read as YAML"),
        (["--field", "vehicle.plate=车牌号"], "sources: {}", "sources.vehicle.[key]: Input should be 'grid'"),
    ],
)
def test_a_bad_mapping_is_a_clear_error(sample: Path, args: list[str], mapping: str, expected: str) -> None:
    (sample / "import.yaml").write_text(mapping, encoding="utf-8")
    code, output, _ = run_import(sample, *args)
    assert code == 1 and expected in output and "Traceback" not in output, output


def test_a_mapped_column_the_file_lacks_is_reported_once(sample: Path) -> None:
    code, output, _ = run_import(sample, "--field", "vehicles.kind=类型")
    assert (
        code == 1
        and output.count("column 类型: no such column (for kind); the file has 备注、所属企业、车牌号、车辆类型") == 1
    )


def test_an_existing_directory_is_never_overwritten(sample: Path, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    code, output, _ = run_import(sample, out=tmp_path / "taken")
    assert code == 1 and "already exists" in output
