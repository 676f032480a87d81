"""Rooms import downwards only: the contract at the bottom, citywatch/ (settings and wiring) at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED: dict[str, set[str]] = {
    "jt808": set(),  # the JT/T 808 codec: standard library only
    "devices": {"jt808"},  # contract, catalog, inventory
    "rules": {"devices"},
    "devices/sim": {"devices", "jt808", "rules"},  # plants the rules' violations; its terminals speak JT/T 808
    "ingest": {"devices"},
    "gateway": {"devices", "jt808"},
    "streams": {"devices", "rules"},
    "tickets": {"devices", "rules"},
    "dashboards": {"devices", "rules"},  # draws the rules' limits
}
ROOMS = {*ALLOWED, "citywatch"}
SUBROOMS = {"devices/sim"}  # a folder that is a room of its own, above its parent


def imported_rooms(room: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Return, for each other room a room imports (at any depth, lazily or not), the files that do."""
    found: dict[str, set[str]] = {}
    inner = {sub for sub in SUBROOMS if sub.startswith(f"{room}/")}
    for path in sorted((root / room).rglob("*.py")):
        if any(path.is_relative_to(root / sub) for sub in inner):
            continue  # a room of its own
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for other in {_room_of(name) for name in names} & ROOMS - {room}:
                found.setdefault(other, set()).add(str(path.relative_to(root)))
    return found


def _room_of(module: str) -> str:
    """Return the room a module belongs to (a sub-room when it is inside one)."""
    path = module.replace(".", "/")
    return next((sub for sub in SUBROOMS if path == sub or path.startswith(f"{sub}/")), path.split("/")[0])


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_a_room_imports_only_the_rooms_below_it(room: str) -> None:
    wrong = {other: files for other, files in imported_rooms(room).items() if other not in ALLOWED[room]}
    assert wrong == {}, f"{room}/ must not import {sorted(wrong)}: {wrong}"


def test_the_check_sees_a_lazy_upward_import(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "bad.py").write_text("def f():\n    from citywatch.settings import Settings\n")
    assert imported_rooms("rules", tmp_path) == {"citywatch": {"rules/bad.py"}}
