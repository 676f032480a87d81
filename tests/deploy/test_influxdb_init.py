"""deploy/influxdb/grafana-read-token.sh gives Grafana a read-only InfluxDB token, run against a stand-in influx CLI.

The stand-in answers the two commands the script runs the way influx CLI 2.7.5 (the one in the
influxdb:2.7.11 image) prints them: ``bucket list --hide-headers`` as tab-separated columns with
the id first, ``auth create --json`` as a tab-indented JSON object with ``id`` and ``token``.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.compose import REPO, environment, load_compose

SCRIPT = REPO / "deploy" / "influxdb" / "grafana-read-token.sh"
DATASOURCE = REPO / "dashboards" / "provisioning" / "datasources" / "influxdb.yaml"
BUCKET_ID = "0a1b2c3d4e5f6071"
TOKEN = "R3adOnly_t0ken-for-grafana=="

FAKE_INFLUX = f"""#!/bin/bash
printf '%s\\n' "$*" >> "$INFLUX_CALLS"
case "$1 $2" in
  "bucket list") printf '{BUCKET_ID}\\tcitywatch\\t2160h0m0s\\tn/a\\t0123456789abcdef\\n' ;;
  "auth create") printf '{{\\n\\t"id": "0fedcba987654321",\\n\\t"description": "x",\\n\\t"token": "%s",\\n\\t"status": "active"\\n}}\\n' "$FAKE_TOKEN" ;;
  *) exit 2 ;;
esac
"""


def run_script(tmp_path: Path, token: str = TOKEN, **extra: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run the script as the image's entrypoint would, with the stand-in influx first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "influx").write_text(FAKE_INFLUX, encoding="utf-8")
    (bin_dir / "influx").chmod(0o755)
    calls = tmp_path / "calls"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "INFLUX_CALLS": str(calls),
        "FAKE_TOKEN": token,
        "DOCKER_INFLUXDB_INIT_ORG": "citywatch",
        "DOCKER_INFLUXDB_INIT_BUCKET": "citywatch",
        "DOCKER_INFLUXDB_INIT_USERNAME": "admin",
        "GRAFANA_READ_TOKEN_FILE": str(tmp_path / "volume" / "influx-read-token"),
        **extra,
    }
    done = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False)
    return done, calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def test_the_script_is_valid_bash_and_executable() -> None:
    assert SCRIPT.stat().st_mode & stat.S_IXUSR, "run-parts skips a script that is not executable"
    assert SCRIPT.name.endswith(".sh"), "the entrypoint runs only *.sh"
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    if shutil.which("shellcheck"):  # Debian's shellcheck, where installed
        subprocess.run(["shellcheck", str(SCRIPT)], check=True)


def test_it_writes_a_read_only_token_for_the_bucket(tmp_path: Path) -> None:
    done, calls = run_script(tmp_path, DOCKER_INFLUXDB_INIT_BUCKET_ID=BUCKET_ID)
    assert done.returncode == 0, done.stderr
    (create,) = calls
    assert create.startswith("auth create ") and f"--read-bucket {BUCKET_ID}" in create
    assert "--org citywatch" in create and "--user admin" in create and "--json" in create
    assert not re.search(r"--(write|operator|all-access)", create), "Grafana's token must not write"
    written = tmp_path / "volume" / "influx-read-token"
    assert written.read_text(encoding="utf-8") == TOKEN + "\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o444
    assert TOKEN not in done.stdout + done.stderr, "the token is never printed"
    assert "0fedcba987654321" in done.stdout
    assert [p.name for p in written.parent.iterdir()] == ["influx-read-token"], "no temporary file left"


def test_run_by_hand_it_looks_the_bucket_up(tmp_path: Path) -> None:
    done, calls = run_script(tmp_path)
    assert done.returncode == 0, done.stderr
    assert calls[0] == "bucket list --org citywatch --name citywatch --hide-headers"
    assert f"--read-bucket {BUCKET_ID}" in calls[1]


def test_no_token_no_file(tmp_path: Path) -> None:
    done, _ = run_script(tmp_path, token="", DOCKER_INFLUXDB_INIT_BUCKET_ID=BUCKET_ID)
    assert done.returncode != 0 and "returned no token" in done.stderr
    assert not (tmp_path / "volume" / "influx-read-token").exists()


@pytest.mark.parametrize("missing", ["DOCKER_INFLUXDB_INIT_ORG", "GRAFANA_READ_TOKEN_FILE"])
def test_it_refuses_to_run_without_its_settings(tmp_path: Path, missing: str) -> None:
    done, calls = run_script(tmp_path, **{missing: ""})
    assert done.returncode != 0 and missing in done.stderr and calls == []


def test_compose_wires_the_token_from_influxdb_to_grafana() -> None:
    """The script runs at InfluxDB's first setup; the volume it writes is Grafana's, read-only, at the datasource's path."""
    services = load_compose()["services"]
    influxdb, grafana = services["influxdb"], services["grafana"]
    assert f"./{SCRIPT.relative_to(REPO)}:/docker-entrypoint-initdb.d/{SCRIPT.name}:ro" in influxdb["volumes"]
    token_file = Path(environment(influxdb)["GRAFANA_READ_TOKEN_FILE"])
    assert environment(influxdb)["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert f"influxdb-grafana-token:{token_file.parent}" in influxdb["volumes"]
    (mount,) = [v for v in grafana["volumes"] if v.startswith("influxdb-grafana-token:")]
    _, grafana_dir, mode = mount.split(":")
    assert mode == "ro"
    (datasource,) = yaml.safe_load(DATASOURCE.read_text(encoding="utf-8"))["datasources"]
    assert datasource["secureJsonData"]["token"] == f"$__file{{{grafana_dir}/{token_file.name}}}"
    assert grafana["depends_on"]["influxdb"]["condition"] == "service_healthy"
