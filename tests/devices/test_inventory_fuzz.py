"""Fuzzing the city loader: mutated copies of the test city and the demo city, written to temp dirs.

Whatever the files hold, ``load_city`` either returns a City or raises ``CityConfigError`` whose
message names the directory and a file of the city; no other exception escapes.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.inventory import CITY_FILES, City, CityConfigError, city_from_files, load_city

ROOT = Path(__file__).resolve().parents[2]
BASES = {
    name: {p.name: p.read_bytes() for p in (ROOT / path).iterdir() if p.name in CITY_FILES}
    for name, path in (("city_min", "tests/data/city_min"), ("demo", "cities/demo"))
}
PARSED = {base: {n: yaml.safe_load(b.decode()) for n, b in files.items()} for base, files in BASES.items()}
SNIPPETS = [
    "\t",
    ": ",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "*b",
    "!!python/object:os.system x",
    "!!binary aGk=",
    "!!set {a}",
    "<<: *a",
    "? x",
    "%YAML 1.1\n---\n",
    "...\n",
    "'",
    '"',
    "2026-02-30",
    "9" * 5000,
    "1e999",
    ".nan",
    "~",
    "null",
    "\x00",
    "\ufeff",
    "\\u0000",
    "#",
    "\n  - x: [",
    "24:61",
    "-1",
    "420106001002005",
]
yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.dates()
    | st.sampled_from(
        [
            "Asia/Shanghai",
            "Mars/Olympus",
            "../etc",
            "22:00-06:00",
            "25:00-26:00",
            "gps-m01",
            "cam-01",
            "M01",
            "C01",
            "env-bg01",
            "420106001002005",
            "station",
            "muck",
            "",
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def write(files: dict[str, bytes], root: Path) -> None:
    """Write a city's files into a directory."""
    root.mkdir()
    for name, content in files.items():
        (root / name).write_bytes(content)


def dump(name: str, data: Any) -> bytes:
    """Serialise data as its file does (GeoJSON as JSON)."""
    if name.endswith(".geojson"):
        return json.dumps(data, ensure_ascii=False, default=str).encode()
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode()


def mutate_tree(draw: st.DrawFn, data: Any) -> Any:
    """Replace, delete, duplicate or rename one node of a parsed file, somewhere down a random path."""
    if not isinstance(data, dict | list) or not data or draw(st.integers(0, 3)) == 0:
        return draw(yaml_values)
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = draw(st.sampled_from(keys))
    op = draw(st.sampled_from(["descend", "descend", "delete", "duplicate", "rename"]))
    out: Any = dict(data) if isinstance(data, dict) else list(data)
    if op == "delete":
        del out[key]
    elif op == "duplicate" and isinstance(out, list):
        out.insert(key, out[key])
    elif op == "rename" and isinstance(out, dict):
        out[draw(st.text(max_size=8))] = out.pop(key)
    else:
        out[key] = mutate_tree(draw, data[key])
    return out


def edit_text(draw: st.DrawFn, content: bytes) -> bytes:
    """Insert, delete or overwrite a few snippets of the raw text."""
    text = content.decode("utf-8", errors="replace")
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        snippet = draw(st.sampled_from(SNIPPETS) | st.text(max_size=6))
        cut = draw(st.integers(0, 8))
        text = text[:at] + snippet + text[at + cut :] if draw(st.booleans()) else text[:at] + text[at + cut :]
    return text.encode("utf-8", errors="surrogatepass")


@st.composite
def mutated_city(draw: st.DrawFn, base: str) -> dict[str, bytes | None]:
    """Return a base city's files with one to three mutations (None: the path is a directory)."""
    files: dict[str, bytes | None] = dict(BASES[base])
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(CITY_FILES)))
        op = draw(st.sampled_from(["tree", "tree", "tree", "text", "bytes", "delete", "directory", "swap"]))
        current = files.get(name)
        if op == "tree":
            files[name] = dump(name, mutate_tree(draw, PARSED[base].get(name)))
        elif op == "text" and current is not None:
            files[name] = edit_text(draw, current)
        elif op == "bytes":
            files[name] = draw(st.binary(max_size=200))
        elif op == "delete":
            files.pop(name, None)
        elif op == "directory":
            files[name] = None
        elif op == "swap":
            files[name] = files.get(draw(st.sampled_from(sorted(CITY_FILES)))) or b""
    return files


def check_loads_or_names_the_file(files: dict[str, bytes | None]) -> City | None:
    """Load the city from a fresh directory: a City, or a CityConfigError naming directory and file."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "city"
        write({n: c for n, c in files.items() if c is not None}, root)
        for name in (n for n, c in files.items() if c is None):
            (root / name).mkdir()
        try:
            city = load_city(root)
        except CityConfigError as exc:
            message = str(exc)
            assert str(root) in message and any(name in message for name in CITY_FILES), message
            return None
    assert set(city.kind_by_device) >= {v.terminal_id for v in city.vehicles}
    return city


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_city("city_min"))
def test_mutated_test_city_loads_or_names_the_file(files: dict[str, bytes | None]) -> None:
    check_loads_or_names_the_file(files)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_city("demo"))
def test_mutated_demo_city_loads_or_names_the_file(files: dict[str, bytes | None]) -> None:
    check_loads_or_names_the_file(files)


def test_the_unmutated_bases_load() -> None:
    for files in BASES.values():
        assert isinstance(check_loads_or_names_the_file(dict(files)), City)


@st.composite
def mutated_files(draw: st.DrawFn, base: str) -> dict[str, Any]:
    """Return a base city's parsed files with one to three tree mutations, or a file left out."""
    files = dict(PARSED[base])
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(CITY_FILES)))
        if draw(st.integers(0, 9)) == 0:
            files.pop(name, None)
        else:
            files[name] = mutate_tree(draw, files.get(name))
    return files


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_files("city_min"))
def test_mutated_city_data_validates_or_names_the_file(files: dict[str, Any]) -> None:
    """The decoder behind load_city, on 10,000 mutations in memory: a City, or an error naming the file."""
    root = Path("/cities/fuzzed")
    try:
        city = city_from_files(root, files)
    except CityConfigError as exc:
        message = str(exc)
        assert str(root) in message and any(name in message for name in CITY_FILES), message
        return
    assert set(city.kind_by_device) >= {v.terminal_id for v in city.vehicles}
