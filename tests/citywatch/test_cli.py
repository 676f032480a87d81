"""The command line as a user meets it: clear errors, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from citywatch.cli import main
from devices.contract_doc import render
from rules.alerts import Alert, Phase, Severity, alert_id
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_rules_check_accepts_the_demo_city() -> None:
    code, out = invoke("rules", "check", str(REPO / "cities" / "demo"))
    assert code == 0 and "ok" in out and "12 vehicles" in out


def test_rules_check_reports_every_problem(tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(REPO / "cities" / "demo", city)
    permits = city / "permits.yaml"
    permits.write_text(permits.read_text(encoding="utf-8").replace("corridor_m: 50", "corridor_m: 0"), encoding="utf-8")
    code, out = invoke("rules", "check", str(city))
    assert code == 1
    assert out.count("corridor_m: Input should be greater than 0") == 6
    assert "Traceback" not in out


def test_bad_setting_is_a_clear_error() -> None:
    code, out = invoke("contract", env={"CITYWATCH_MQTT_PORT": "not-a-port"})
    assert code != 0 and "bad CITYWATCH_* setting" in out and "mqtt_port" in out


def test_contract_prints_the_models() -> None:
    code, out = invoke("contract")
    assert code == 0 and out.strip() == render().strip()


def test_tickets_list_without_a_database(tmp_path: Path) -> None:
    code, out = invoke("tickets", "list", "--db", str(tmp_path / "none.sqlite"))
    assert code != 0 and "no ticket database" in out


def test_tickets_list_shows_tickets(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    store = TicketStore(db)
    store.apply([Alert(alert_id("overflow", "fill-s01", 1000), "overflow", Phase.OPEN, "fill-s01", 1000, 1000,
                       114.3, 30.6, Severity.WARNING, "06042", {"fill_ratio": 0.85})])
    store.close()
    code, out = invoke("tickets", "list", "--db", str(db))
    assert code == 0 and "fill-s01" in out and "06042" in out and "1 ticket(s)" in out
