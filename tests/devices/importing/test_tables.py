"""Registry spreadsheets (CSV / TSV / XLSX from Chinese office software) read into numbered rows of text.

Every input is built in tmp_path: CSV in UTF-8, UTF-8 with BOM, GBK and UTF-16, and workbooks with openpyxl.
"""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest
from openpyxl import Workbook

from devices.importing.problems import ImportFailed, Problem
from devices.importing.tables import Row, Table, read_table

VEHICLES = "车牌号,公司,核载吨位\n鄂A12345,武汉环卫,8\n鄂A67890,江岸清运,12\n"


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def failure(path: Path, **kwargs: str) -> list[Problem]:
    """Read the file, expect ImportFailed and return its problems."""
    with pytest.raises(ImportFailed) as raised:
        read_table(path, **kwargs)
    return raised.value.problems


def only(path: Path, **kwargs: str) -> Problem:
    problems = failure(path, **kwargs)
    assert len(problems) == 1, problems
    return problems[0]


def plates(table: Table) -> list[str]:
    return [row.values["车牌号"] for row in table.rows]


# CSV: encodings


def test_utf8_csv_reads_columns_rows_and_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", VEHICLES)
    table = read_table(path)
    assert table == Table(
        file=str(path),
        columns=("车牌号", "公司", "核载吨位"),
        rows=(
            Row(2, {"车牌号": "鄂A12345", "公司": "武汉环卫", "核载吨位": "8"}),
            Row(3, {"车牌号": "鄂A67890", "公司": "江岸清运", "核载吨位": "12"}),
        ),
    )


def test_utf8_bom_is_not_part_of_the_first_column(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "vehicles.csv", VEHICLES, encoding="utf-8-sig"))
    assert table.columns[0] == "车牌号"
    assert plates(table) == ["鄂A12345", "鄂A67890"]


def test_gbk_csv_falls_back_to_gb18030(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "vehicles.csv", VEHICLES, encoding="gbk"))
    assert table.columns == ("车牌号", "公司", "核载吨位")
    assert [row.values["公司"] for row in table.rows] == ["武汉环卫", "江岸清运"]


def test_gb18030_only_characters_decode(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "names.csv", "名称\n𠀀街道\n", encoding="gb18030"))
    assert table.rows[0].values == {"名称": "𠀀街道"}


def test_given_encoding_is_used(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", VEHICLES, encoding="gbk")
    assert plates(read_table(path, encoding="gbk")) == ["鄂A12345", "鄂A67890"]


def test_utf16_unicode_text_export_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.txt", VEHICLES.replace(",", "\t"), encoding="utf-16")
    assert plates(read_table(path)) == ["鄂A12345", "鄂A67890"]


def test_undecodable_bytes_name_the_encodings_line_and_byte(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", b"plate\nab\xff\xfe\n")
    problem = only(path)
    assert (problem.file, problem.row, problem.column) == (str(path), None, None)
    assert "not UTF-8: bad byte 0xff at line 2, byte 3" in problem.message
    assert "not GB18030 (a superset of GBK): bad byte 0xff at line 2, byte 3" in problem.message


def test_given_encoding_that_does_not_fit_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", VEHICLES, encoding="gbk")
    problem = only(path, encoding="utf-8")
    assert problem.file == str(path)
    assert "not UTF-8: bad byte 0xb3 at line 1, byte 1" in problem.message


def test_unknown_encoding_name_is_a_problem(tmp_path: Path) -> None:
    problem = only(write(tmp_path, "vehicles.csv", VEHICLES), encoding="klingon")
    assert "unknown encoding 'klingon'" in problem.message


# CSV: delimiters and shape


@pytest.mark.parametrize("delimiter", ["\t", ";", ","])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    table = read_table(write(tmp_path, "vehicles.csv", VEHICLES.replace(",", delimiter)))
    assert table.columns == ("车牌号", "公司", "核载吨位")
    assert table.rows[1].values["核载吨位"] == "12"


def test_tsv_with_commas_inside_cells_splits_on_tabs(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "sites.tsv", "名称\t地址\n工地一\t江岸区,二七路\n"))
    assert table.rows[0].values == {"名称": "工地一", "地址": "江岸区,二七路"}


def test_quoted_cells_keep_their_delimiters_and_newlines(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "sites.csv", '名称,备注\n工地一,"夜间施工,\n需报备"\n工地二,无\n'))
    assert table.rows[0].values["备注"] == "夜间施工,\n需报备"
    assert [row.number for row in table.rows] == [2, 3]


def test_single_column_file(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "plates.csv", "车牌号\n鄂A12345\n鄂A67890\n"))
    assert table.columns == ("车牌号",)
    assert plates(table) == ["鄂A12345", "鄂A67890"]


def test_blank_rows_are_skipped_but_keep_their_numbers(tmp_path: Path) -> None:
    text = "车牌号,公司\n\n鄂A12345,武汉环卫\n , \n鄂A67890,江岸清运\n"
    table = read_table(write(tmp_path, "vehicles.csv", text))
    assert [(row.number, row.values["车牌号"]) for row in table.rows] == [(3, "鄂A12345"), (5, "鄂A67890")]


def test_values_are_stripped_and_short_rows_padded(tmp_path: Path) -> None:
    text = "车牌号,公司,核载吨位\n 鄂A12345 ,\u3000武汉环卫\n鄂A67890\n"
    table = read_table(write(tmp_path, "vehicles.csv", text))
    assert table.rows[0].values == {"车牌号": "鄂A12345", "公司": "武汉环卫", "核载吨位": ""}
    assert table.rows[1].values == {"车牌号": "鄂A67890", "公司": "", "核载吨位": ""}


def test_trailing_empty_cells_are_ignored(tmp_path: Path) -> None:
    table = read_table(write(tmp_path, "vehicles.csv", "车牌号,公司,,\n鄂A12345,武汉环卫,,\n"))
    assert table.columns == ("车牌号", "公司")
    assert table.rows[0].values == {"车牌号": "鄂A12345", "公司": "武汉环卫"}


def test_row_with_more_cells_than_the_header_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", "车牌号,公司\n鄂A12345,武汉环卫\n鄂A67890,江岸清运,多余\n")
    problem = only(path)
    assert (problem.file, problem.row, problem.column) == (str(path), 3, None)
    assert "the row has 3 cells but the header names 2 columns (extra: '多余')" in problem.message


# Header problems


@pytest.mark.parametrize("content", ["", "\n\n", " , \n"])
def test_empty_file_is_a_problem(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, "vehicles.csv", content)
    problem = only(path)
    assert (problem.file, problem.row) == (str(path), None)
    assert "empty" in problem.message


def test_empty_header_cell_names_its_position(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", "车牌号,,公司\n鄂A12345,x,武汉环卫\n")
    problem = only(path)
    assert (problem.file, problem.row, problem.column) == (str(path), 1, None)
    assert "header cell 2 (B) is empty" in problem.message


def test_duplicate_column_names_both_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", "车牌号,公司,车牌号\n鄂A12345,武汉环卫,鄂A12345\n")
    problem = only(path)
    assert (problem.file, problem.row, problem.column) == (str(path), 1, "车牌号")
    assert "duplicate column name, at positions 1 (A) and 3 (C)" in problem.message


def test_all_header_and_row_problems_are_reported_together(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.csv", "\n车牌号,,车牌号,公司\n鄂A12345,,,,多余\n")
    problems = failure(path)
    assert [(p.row, p.column) for p in problems] == [(2, None), (2, "车牌号"), (3, None)]
    assert "header cell 2 (B)" in problems[0].message
    assert "1 (A) and 3 (C)" in problems[1].message
    assert "5 cells" in problems[2].message


# Files and formats


def test_missing_file_is_import_failed(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    problem = only(path)
    assert (problem.file, problem.message) == (str(path), "file not found")


def test_directory_is_import_failed(tmp_path: Path) -> None:
    path = tmp_path / "folder.csv"
    path.mkdir()
    assert "is a directory" in only(path).message


@pytest.mark.parametrize(
    ("name", "phrase"), [("vehicles.ods", "unsupported file type '.ods'"), ("old.xls", "save it as .xlsx")]
)
def test_unknown_suffix_is_import_failed(tmp_path: Path, name: str, phrase: str) -> None:
    path = write(tmp_path, name, VEHICLES)
    problem = only(path)
    assert problem.file == str(path)
    assert phrase in problem.message


# XLSX


def workbook(tmp_path: Path, rows: list[list[object]], name: str = "vehicles.xlsx") -> Path:
    """A workbook whose first sheet (车辆) holds ``rows`` and whose second (说明) holds a note."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "车辆"
    for row in rows:
        sheet.append(row)
    book.create_sheet("说明").append(["字段", "含义"])
    path = tmp_path / name
    book.save(path)
    return path


def test_xlsx_values_become_text_as_excel_shows_them(tmp_path: Path) -> None:
    header = ["车牌号", "核载吨位", "年检日期", "派车时间", "夜班开始", "电话", "备注", "启用"]
    row = ["鄂A12345", 12.0, date(2026, 12, 5), datetime(2026, 12, 5, 14, 0), time(22, 0), 13800138000, None, True]
    table = read_table(workbook(tmp_path, [header, row, ["鄂A67890", 7.5, datetime(2026, 1, 2)]]))
    assert table.columns == tuple(header)
    assert table.rows[0] == Row(
        2,
        {
            "车牌号": "鄂A12345",
            "核载吨位": "12",
            "年检日期": "2026-12-05",
            "派车时间": "2026-12-05 14:00:00",
            "夜班开始": "22:00",
            "电话": "13800138000",
            "备注": "",
            "启用": "TRUE",
        },
    )
    assert (table.rows[1].values["核载吨位"], table.rows[1].values["年检日期"]) == ("7.5", "2026-01-02")


def test_xlsx_blank_rows_keep_sheet_numbering(tmp_path: Path) -> None:
    table = read_table(workbook(tmp_path, [["车牌号"], [None], ["鄂A12345"], [], ["鄂A67890"]]))
    assert [(row.number, row.values["车牌号"]) for row in table.rows] == [(3, "鄂A12345"), (5, "鄂A67890")]


def test_xlsx_second_sheet_by_name(tmp_path: Path) -> None:
    table = read_table(workbook(tmp_path, [["车牌号"], ["鄂A12345"]]), sheet="说明")
    assert table.columns == ("字段", "含义")
    assert table.rows == ()


def test_xlsx_unknown_sheet_lists_the_sheets(tmp_path: Path) -> None:
    path = workbook(tmp_path, [["车牌号"], ["鄂A12345"]])
    problem = only(path, sheet="Sheet1")
    assert problem.file == str(path)
    assert "no sheet named 'Sheet1'; the workbook has '车辆', '说明'" in problem.message


def test_xlsx_header_problems_are_reported(tmp_path: Path) -> None:
    path = workbook(tmp_path, [["车牌号", None, "车牌号"], ["鄂A12345", "x", "y"]])
    problems = failure(path)
    assert [(p.row, p.column) for p in problems] == [(1, None), (1, "车牌号")]


def test_xlsx_empty_sheet_is_a_problem(tmp_path: Path) -> None:
    assert "empty" in only(workbook(tmp_path, [])).message


def test_csv_renamed_to_xlsx_is_import_failed(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.xlsx", VEHICLES)
    problem = only(path)
    assert problem.file == str(path)
    assert "not a valid .xlsx workbook" in problem.message


def test_old_xls_renamed_to_xlsx_is_recognised(tmp_path: Path) -> None:
    path = write(tmp_path, "vehicles.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert "Excel 97-2003 .xls" in only(path).message
