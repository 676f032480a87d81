"""`citywatch demo` end to end, as a user runs it: its own broker, the fleet, the pipeline, a summary."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from citywatch.broker import find_mosquitto
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]
CITYWATCH = Path(sys.executable).parent / "citywatch"


def run_demo(tmp_path: Path, broker: str) -> dict[str, object]:
    summary = tmp_path / "summary.json"
    env = {
        **os.environ,
        "CITYWATCH_TICKET_DB": str(tmp_path / "tickets.sqlite"),
        "CITYWATCH_DEADLETTER_PATH": str(tmp_path / "deadletter.jsonl"),
    }
    args = [
        str(CITYWATCH),
        "demo",
        "--duration",
        "8",
        "--speed",
        "60",
        "--seed",
        "7",
        "--broker",
        broker,
        "--summary-json",
        str(summary),
    ]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(summary.read_text(encoding="utf-8"))


@pytest.mark.parametrize("broker", ["mosquitto", "amqtt"])
def test_demo_runs_and_summarises(tmp_path: Path, broker: str) -> None:
    if broker == "mosquitto" and find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/ensure-mosquitto.sh (make test does)")
    summary = run_demo(tmp_path, broker)
    messages = summary["messages"]
    assert isinstance(messages, dict)
    assert summary["broker"] == broker
    assert messages["published"] > 300
    assert messages["published"] == messages["received"] == messages["ingested"]
    assert messages["dead_lettered"] == 0
    # 480 simulated seconds of scenarios/demo.yaml plant one route deviation (gps-m03 at 300 s).
    assert summary["tickets_by_rule"] == {"route_deviation": 1}
    assert [t["subject"] for t in summary["tickets"]] == ["gps-m03"]  # type: ignore[index]


def test_ctrl_c_drains_what_is_in_flight_and_stops_promptly(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run scripts/ensure-mosquitto.sh (make test does)")
    summary = tmp_path / "summary.json"
    env = {
        **os.environ,
        "CITYWATCH_TICKET_DB": str(tmp_path / "tickets.sqlite"),
        "CITYWATCH_DEADLETTER_PATH": str(tmp_path / "deadletter.jsonl"),
    }
    args = [
        str(CITYWATCH),
        "demo",
        "--speed",
        "60",
        "--seed",
        "7",
        "--broker",
        "mosquitto",
        "--summary-json",
        str(summary),
    ]
    # its own process group, like a terminal's foreground job: Ctrl-C signals the whole group
    err = tmp_path / "stderr.txt"
    with err.open("wb") as sink:
        demo = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sink, start_new_session=True)
    try:
        wait_for(lambda: b"dispatch console" in err.read_bytes(), timeout=60, what="the demo to start")
        wait_for(
            lambda: tickets_in(tmp_path / "tickets.sqlite") > 0,
            timeout=60,
            what="the fleet to publish until its first planted violation became a ticket",
        )
        os.killpg(demo.pid, signal.SIGINT)
        started = time.monotonic()
        assert demo.wait(timeout=30) == 0, err.read_text(encoding="utf-8")[-3000:]
        stopped_in = time.monotonic() - started
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
    messages = json.loads(summary.read_text(encoding="utf-8"))["messages"]
    assert messages["published"] > 0
    assert messages["published"] == messages["received"] == messages["ingested"]  # the broker was not killed
    assert stopped_in < 10  # no drain timeout (15 s) waiting for messages a killed broker lost


def tickets_in(db: Path) -> int:
    """Count the tickets of a running demo's store (0 until its schema exists)."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)) as conn:
            return int(conn.execute("SELECT count(*) FROM tickets").fetchone()[0])
    except sqlite3.Error:
        return 0
