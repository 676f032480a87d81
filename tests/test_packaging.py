"""The package as a newcomer or the container image gets it: a clean build, and a non-editable install that works.

Builds the wheel from a copy of the working tree (pip, as ``make venv`` and the Dockerfile do), installs it
without dependencies into a folder of its own, and runs it from an unrelated directory with the
repository out of sight: the demo city and the scenarios must come from the package, the data must
go to the user's data directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", ".services", "var", "test-artifacts", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
)


def packages_in_tree() -> set[str]:
    """Return every Python package of the project's rooms (a folder with __init__.py)."""
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    tops = {p.split(".")[0] for p in declared}
    return {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in tops
        for init in (REPO / top).rglob("__init__.py")
        if "__pycache__" not in init.parts and "shipped" not in init.parts
    }


def test_every_package_of_the_tree_is_declared() -> None:
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert packages_in_tree() - declared == set()


def test_the_dockerfile_copies_every_top_level_package() -> None:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    copied = set(re.findall(r"^COPY (\S+) ", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    assert {p.split(".")[0] for p in declared} | {"cities", "scenarios", "pyproject.toml"} <= copied


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Build the wheel from a copy of the tree; return it and what the build printed."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=SKIP, symlinks=True)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp / "dist"), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (found,) = (tmp / "dist").glob("citywatch-*.whl")
    return found, build.stdout + build.stderr


def test_the_build_prints_no_packaging_warnings(wheel: tuple[Path, str]) -> None:
    _, output = wheel
    assert "would be ignored" not in output and "BuildBackendWarning" not in output, output[-3000:]


def test_the_wheel_ships_data_files_and_the_demo_city(wheel: tuple[Path, str]) -> None:
    names = set(zipfile.ZipFile(wheel[0]).namelist())
    for expected in (
        "rules/pipelines/__init__.py",
        "dashboards/json/cw-fleet.json",
        "dashboards/provisioning/datasources/influxdb.yaml",
        "tickets/static/console.js",
        "tickets/migrations/script.py.mako",
        "citywatch/shipped/demo_city/city.yaml",
        "citywatch/shipped/demo_city/grid.geojson",
        "citywatch/shipped/scenarios/demo.yaml",
    ):
        assert expected in names, expected
    for package in packages_in_tree():
        assert package.replace(".", "/") + "/__init__.py" in names, package


def test_an_installed_citywatch_runs_from_anywhere_without_the_repository(
    wheel: tuple[Path, str], tmp_path: Path
) -> None:
    site, home = tmp_path / "site", tmp_path / "home"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel[0])],
        check=True,
        timeout=300,
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CITYWATCH_") and k not in {"PYTHONPATH", "XDG_DATA_HOME"}
    }
    env |= {"PYTHONPATH": str(site), "HOME": str(home)}
    probe = (
        "import json, citywatch.resources as r; from citywatch.settings import Settings; "
        "from citywatch.city import load_city; s = Settings(); c = load_city(s.city_dir); "
        "print(json.dumps({'checkout': r.in_checkout(), 'city': str(s.city_dir), 'data': str(s.data_dir), "
        "'db': str(s.ticket_db), 'vehicles': len(c.vehicles), 'scenario': str(r.shipped('scenarios') / 'demo.yaml')}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    facts = json.loads(out.stdout)
    assert facts["checkout"] is False
    assert facts["city"].startswith(str(site)) and facts["vehicles"] == 12
    assert Path(facts["scenario"]).is_file() and facts["scenario"].startswith(str(site))
    assert facts["data"] == str(home / ".local" / "share" / "citywatch")
    assert facts["db"] == str(home / ".local" / "share" / "citywatch" / "tickets.sqlite")
    check = subprocess.run(
        [sys.executable, "-c", "from citywatch.cli import main; main()", "rules", "check", facts["city"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0 and "ok" in check.stdout, check.stderr[-3000:]
