"""``citywatch tickets serve`` as a process of the stack: /healthz that means something, /metrics, JSON logs."""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Services
from tests.e2e import harness
from tests.e2e.harness import BIN, REPO
from tests.support import wait_for

pytestmark = pytest.mark.services
TOKEN = "token-lead-0123456789abcdef"


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except OSError:
        return 0, {}


def test_the_ticket_service_is_ready_only_while_its_store_takes_writes(services: Services, tmp_path: Path) -> None:
    port, db = harness.free_port(), tmp_path / "tickets.sqlite"
    env = {
        "CITYWATCH_TICKET_DB": str(db),
        "CITYWATCH_KAFKA_BOOTSTRAP": services.kafka_bootstrap,
        "CITYWATCH_CITY_DIR": str(REPO / "cities" / "demo"),
        "CITYWATCH_TICKET_TOKENS": json.dumps([{"name": "值班长", "role": "shift_lead", "token": TOKEN}]),
    }
    args = [str(BIN / "citywatch"), "--log-json", "tickets", "serve", "--port", str(port)]
    proc = harness.start("tickets", args, env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        report = wait_for(lambda: (r := get(base + "/healthz"))[0] == 200 and r[1], 60, what="the service to be ready")
        assert report == {"ok": True, "store": True, "automation": True, "live_feed": True, "live_feed_error": None}
        metrics = harness.scrape(port)
        assert metrics["citywatch_outbox_pending"] == 0 and metrics["citywatch_cases_overdue"] == 0
        lock = sqlite3.connect(db, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another process holds the database
        try:
            status, report = get(base + "/healthz")
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert status == 503 and report["store"] is False and report["ok"] is False
        assert get(base + "/healthz")[0] == 200
    finally:
        assert proc.stop() == 0, proc.text()[-3000:]
    for line in filter(str.strip, proc.text().splitlines()):
        assert {"event", "level", "timestamp"} <= json.loads(line).keys(), line
