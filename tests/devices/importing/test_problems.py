"""How an import problem reads: file, then the place (feature, row, column), then what is wrong."""

from __future__ import annotations

import pickle

import pytest

from devices.importing.problems import ImportFailed, Problem, shown


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (
            Problem("vehicles.csv", "not a plate (got 'x')", row=12, column="车牌号"),
            "vehicles.csv: row 12, column 车牌号: not a plate (got 'x')",
        ),
        (Problem("grid.shp", "polygon ring has 2 points", feature=3), "grid.shp: feature 3: polygon ring has 2 points"),
        (
            Problem("grid.shp", "not a district", feature=3, column="QX"),
            "grid.shp: feature 3, column QX: not a district",
        ),
        (Problem("sites.csv", "header cell 2 (B) is empty", row=1), "sites.csv: row 1: header cell 2 (B) is empty"),
        (Problem("sites.csv", "file not found"), "sites.csv: file not found"),
    ],
)
def test_problem_renders_its_place(problem: Problem, text: str) -> None:
    assert str(problem) == text


def test_import_failed_lists_one_problem_per_line() -> None:
    failed = ImportFailed([Problem("a.csv", "first", row=2), Problem("a.csv", "second", row=5, column="名称")])
    assert str(failed) == "a.csv: row 2: first\na.csv: row 5, column 名称: second"
    assert [p.row for p in failed.problems] == [2, 5]


def test_import_failed_of_one_file_problem_and_pickles() -> None:
    failed = ImportFailed.of("grid.shp", "grid.dbf is missing")
    assert failed.problems == [Problem("grid.shp", "grid.dbf is missing")]
    assert pickle.loads(pickle.dumps(failed)).problems == failed.problems


def test_shown_cuts_long_values() -> None:
    assert shown("x") == "'x'"
    assert shown("y" * 100) == "'" + "y" * 36 + "..."
