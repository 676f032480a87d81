"""Read a registry spreadsheet (CSV / TSV / TXT or XLSX) into numbered rows of text keyed by column name.

Registries come from Chinese office software: text files are UTF-8 (with or without a BOM) or GBK, which is
decoded as GB18030 (a superset of GBK and GB2312); Excel's "Unicode text" export (UTF-16 with a BOM) is read
too. Rows are numbered as a spreadsheet user counts them: the header is row 1, the first data row row 2, and
blank rows still take their number though they are skipped. Trailing empty cells are ignored everywhere.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]

from devices.importing.problems import ImportFailed, Problem

TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_DELIMITERS = (",", "\t", ";")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an Excel 97-2003 .xls (or another OLE2 document)

Record = tuple[int, list[str]]
"""A row as read: its number and its cells as stripped text."""


@dataclass(frozen=True)
class Row:
    """One data row: its number as the spreadsheet shows it and its values (column -> stripped text, "" if empty)."""

    number: int
    values: dict[str, str]


@dataclass(frozen=True)
class Table:
    """A registry sheet: the file as given, the header's column names and the non-blank data rows."""

    file: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]


def read_table(path: Path, *, encoding: str | None = None, sheet: str | None = None) -> Table:
    """Read a .csv/.tsv/.txt (``encoding``) or .xlsx (``sheet``) registry; raise ImportFailed listing every problem."""
    file, suffix = str(path), path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        records = _csv_records(file, read_bytes(path), encoding, tabs_first=suffix == ".tsv")
    elif suffix == ".xlsx":
        records = _xlsx_records(file, read_bytes(path), sheet)
    else:
        raise ImportFailed.of(file, _unsupported(suffix))
    return _table(file, records)


def read_bytes(path: Path) -> bytes:
    """The file's content, or ImportFailed saying why it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ImportFailed.of(str(path), "file not found") from None
    except IsADirectoryError:
        raise ImportFailed.of(str(path), "is a directory, not a file") from None
    except OSError as error:
        raise ImportFailed.of(str(path), f"cannot read the file: {error.strerror or error}") from None


def decode_text(file: str, data: bytes, encoding: str | None = None) -> str:
    """Decode with ``encoding``, else UTF-16 if it has a BOM, else UTF-8 (BOM or not), else GB18030 (⊃ GBK)."""
    if encoding:
        codecs_to_try = [known_encoding(file, encoding)]
    else:
        codecs_to_try = ["utf-16"] if data.startswith(_UTF16_BOMS) else ["utf-8-sig", "gb18030"]
    failures = []
    for codec in codecs_to_try:
        try:
            return data.decode(codec)
        except UnicodeDecodeError as error:
            failures.append(_bad_byte(data, codec, error))
    raise ImportFailed.of(file, f"cannot decode the text: {'; '.join(failures)}; give the file's encoding explicitly")


def known_encoding(file: str, encoding: str) -> str:
    """Python's codec name for ``encoding`` (UTF-8 tolerating a BOM), or ImportFailed if there is no such codec."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise ImportFailed.of(file, f"unknown encoding {encoding!r}") from None
    return "utf-8-sig" if name == "utf-8" else name


def _bad_byte(data: bytes, codec: str, error: UnicodeDecodeError) -> str:
    line = data.count(b"\n", 0, error.start) + 1
    column = error.start - data.rfind(b"\n", 0, error.start)
    label = {"utf-8-sig": "UTF-8", "gb18030": "GB18030 (a superset of GBK)"}.get(codec, codec)
    return f"not {label}: bad byte 0x{data[error.start]:02x} at line {line}, byte {column}"


def _csv_records(file: str, data: bytes, encoding: str | None, *, tabs_first: bool) -> list[Record]:
    text = decode_text(file, data, encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text, tabs_first=tabs_first))
    try:
        return [(number, [cell.strip() for cell in cells]) for number, cells in enumerate(reader, 1)]
    except csv.Error as error:
        raise ImportFailed.of(file, f"not readable as CSV at line {reader.line_num}: {error}") from None


def _delimiter(text: str, *, tabs_first: bool) -> str:
    """Comma, tab or semicolon: whichever splits the header line into the most cells (ties go to the first)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    candidates = ("\t", ",", ";") if tabs_first else _DELIMITERS
    return max(candidates, key=lambda delimiter: len(next(csv.reader([header], delimiter=delimiter), [])))


def _xlsx_records(file: str, data: bytes, sheet: str | None) -> list[Record]:
    if data.startswith(_OLE2_MAGIC):
        raise ImportFailed.of(file, "is an Excel 97-2003 .xls workbook, not .xlsx; save it as .xlsx")
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises a zoo of exceptions (zip, XML, key, value) on a bad file
        raise ImportFailed.of(file, f"not a valid .xlsx workbook ({type(error).__name__}: {error})") from None
    try:
        values = _sheet_values(file, book, sheet)
    finally:
        book.close()
    return [(number, [_cell_text(value) for value in row]) for number, row in enumerate(values, 1)]


def _sheet_values(file: str, book: Any, sheet: str | None) -> list[tuple[object, ...]]:
    worksheet = _worksheet(file, book, sheet)
    try:
        return [tuple(row) for row in worksheet.iter_rows(min_row=1, values_only=True)]
    except Exception as error:  # a damaged sheet's XML
        raise ImportFailed.of(
            file, f"cannot read sheet {worksheet.title!r} ({type(error).__name__}: {error})"
        ) from None


def _worksheet(file: str, book: Any, sheet: str | None) -> Any:
    names: list[str] = list(book.sheetnames)
    if sheet is not None and sheet not in names:
        raise ImportFailed.of(file, f"no sheet named {sheet!r}; the workbook has {', '.join(map(repr, names))}")
    if sheet is None and not book.worksheets:
        raise ImportFailed.of(file, "the workbook has no worksheet")
    worksheet = book[sheet] if sheet is not None else book.worksheets[0]
    if not hasattr(worksheet, "iter_rows"):
        raise ImportFailed.of(file, f"sheet {sheet!r} is a chart sheet, not a worksheet")
    return worksheet


def _cell_text(value: object) -> str:
    """A cell as Excel shows it: 12.0 -> "12", dates ISO, times "22:00", empty -> ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return _time_text(value)
    return str(value).strip()


def _datetime_text(value: datetime) -> str:
    """ISO date if at midnight, else "2026-12-05 14:00:00" (to the rounded second)."""
    value = _to_second(value)
    if value.time() == time():
        return value.date().isoformat()
    return value.isoformat(sep=" ")


def _time_text(value: time) -> str:
    """Hours and minutes ("22:00"), with the seconds ("22:00:30") when they are not zero."""
    moment = _to_second(datetime.combine(date.min, value))
    return moment.strftime("%H:%M" if moment.second == 0 else "%H:%M:%S")


def _to_second(value: datetime) -> datetime:
    """Rounded to the second: Excel stores times as fractions of a day, so 14:00 may read back as 13:59:59.999."""
    return value.replace(microsecond=0) + timedelta(seconds=round(value.microsecond / 1e6))


def _table(file: str, records: Iterable[Record]) -> Table:
    rows_read = [(number, cells) for number, cells in ((n, _trimmed(c)) for n, c in records) if cells]
    if not rows_read:
        raise ImportFailed.of(file, "the file is empty: no header row")
    (header_number, header), *data = rows_read
    problems = _header_problems(file, header_number, header)
    rows = []
    for number, cells in data:
        if len(cells) > len(header):
            problems.append(_too_many_cells(file, number, cells, len(header)))
        rows.append(Row(number, {column: cells[i] if i < len(cells) else "" for i, column in enumerate(header)}))
    if problems:
        raise ImportFailed(problems)
    return Table(file, tuple(header), tuple(rows))


def _trimmed(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _header_problems(file: str, row: int, header: Sequence[str]) -> list[Problem]:
    problems = [
        Problem(file, f"header cell {i} ({_letter(i)}) is empty; every column needs a name", row=row)
        for i, name in enumerate(header, 1)
        if not name
    ]
    for name in dict.fromkeys(name for name in header if name):
        positions = [f"{i} ({_letter(i)})" for i, other in enumerate(header, 1) if other == name]
        if len(positions) > 1:
            where = ", ".join(positions[:-1]) + f" and {positions[-1]}"
            problems.append(Problem(file, f"duplicate column name, at positions {where}", row=row, column=name))
    return problems


def _too_many_cells(file: str, row: int, cells: list[str], width: int) -> Problem:
    extra = ", ".join(repr(cell) for cell in cells[width:] if cell)
    message = f"the row has {len(cells)} cells but the header names {width} columns (extra: {extra})"
    return Problem(file, message, row=row)


def _letter(position: int) -> str:
    """The spreadsheet column letter of a 1-based position: 1 -> A, 27 -> AA."""
    letters = ""
    while position:
        position, remainder = divmod(position - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def _unsupported(suffix: str) -> str:
    if suffix == ".xls":
        return "is an Excel 97-2003 .xls workbook; save it as .xlsx"
    return f"unsupported file type {suffix or '(no suffix)'!r}: expected .csv, .tsv, .txt or .xlsx"
