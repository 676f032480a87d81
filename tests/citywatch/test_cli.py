"""The command line as a user meets it: clear errors, never a traceback."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from citywatch.broker import BrokerError, free_port, start_broker
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


def test_bad_settings_are_one_line_naming_each_variable() -> None:
    code, out = invoke("contract", env={"CITYWATCH_MQTT_PORT": "not-a-port", "CITYWATCH_KAFKA_PARTITIONS": "0"})
    assert code == 1 and out.count("\n") == 1 and "Traceback" not in out
    assert out.startswith("Error: bad setting: CITYWATCH_MQTT_PORT='not-a-port': Input should be a valid integer")
    assert "; CITYWATCH_KAFKA_PARTITIONS='0': Input should be greater than or equal to 1" in out


def test_a_secret_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    code, out = invoke("contract", env={"CITYWATCH_MQTT_PASSWORD_FILE": str(missing)})
    assert code == 1 and f"CITYWATCH_MQTT_PASSWORD_FILE={missing}: cannot read the secret" in out


def test_the_worker_command_exists_and_the_demo_finds_its_scenario_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out = invoke("worker", "--help")
    assert code == 0 and "stream worker" in out
    code, out = invoke("demo", "--help")
    assert code == 0 and "--scenario FILE" in out
    demo = main.commands["demo"]  # type: ignore[attr-defined]
    default = next(p.default for p in demo.params if p.name == "scenario")
    assert Path(default).is_absolute() and Path(default).is_file()


def test_tickets_serve_names_what_its_config_lacks_in_one_line(tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(REPO / "cities" / "demo", city)
    env = {"CITYWATCH_CITY_DIR": str(city), "CITYWATCH_DATA_DIR": str(tmp_path / "data")}
    code, out = invoke("tickets", "serve", "--live", "none", "--port", "0", env=env)
    assert code == 1 and "Traceback" not in out and out.count("\n") == 1
    assert out.startswith("Error: no API users: add `users`")
    notify = "notify:\n  channels:\n    ops: {kind: wecom, url_env: CW_TEST_WECOM_URL}\n  routes:\n    - to: [ops]\n"
    with (city / "tickets.yaml").open("a", encoding="utf-8") as f:
        f.write(notify)
    tokens = '[{"name": "值班长", "role": "shift_lead", "token": "a-token-of-sixteen-chars"}]'
    code, out = invoke(
        "tickets", "serve", "--live", "none", "--port", "0", env={**env, "CITYWATCH_TICKET_TOKENS": tokens}
    )
    assert code == 1 and "Traceback" not in out
    assert "environment variable CW_TEST_WECOM_URL is not set (nor CW_TEST_WECOM_URL_FILE)" in out


@pytest.mark.parametrize("command", [["demo", "--duration", "1"], ["sim"], ["tickets", "serve", "--live", "none"]])
def test_a_city_or_scenario_that_does_not_load_is_one_line_naming_it(tmp_path: Path, command: list[str]) -> None:
    env = {"CITYWATCH_CITY_DIR": str(tmp_path / "nowhere"), "CITYWATCH_DATA_DIR": str(tmp_path / "data")}
    code, out = invoke(*command, env=env)
    assert (code, out) == (1, f"Error: {tmp_path / 'nowhere'}: not a directory\n")
    if command[0] == "tickets":
        return
    bad = tmp_path / "bad.yaml"
    bad.write_text("trucks: [1\n", encoding="utf-8")
    code, out = invoke(*command, "--scenario", str(bad), env={"CITYWATCH_DATA_DIR": str(tmp_path / "data")})
    assert code == 1 and out.startswith(f"Error: {bad}: not valid YAML: ") and "Traceback" not in out


def test_contract_prints_the_models() -> None:
    code, out = invoke("contract")
    assert code == 0 and out.strip() == render().strip()


def test_tickets_list_without_a_database(tmp_path: Path) -> None:
    code, out = invoke("tickets", "list", "--db", str(tmp_path / "none.sqlite"))
    assert code != 0 and "no ticket database" in out


def test_tickets_list_shows_tickets(tmp_path: Path) -> None:
    db = tmp_path / "t.sqlite"
    store = TicketStore(db)
    store.apply(
        [
            Alert(
                alert_id("overflow", "fill-s01", 1000),
                "overflow",
                Phase.OPEN,
                "fill-s01",
                1000,
                1000,
                114.3,
                30.6,
                Severity.WARNING,
                "06042",
                {"fill_ratio": 0.85},
            )
        ]
    )
    store.close()
    code, out = invoke("tickets", "list", "--db", str(db))
    assert code == 0 and "fill-s01" in out and "06042" in out and "1 ticket(s)" in out


def test_tickets_token_prints_a_scoped_users_entry_that_the_config_accepts() -> None:
    from tickets.config import UserConfig

    code, out = invoke("tickets", "token", "--name", "西区派遣员", "--role", "dispatcher", "--node", "west")
    assert code == 0
    entry = json.loads(out.split("users entry:\n  - ")[1])
    assert UserConfig.model_validate(entry).node == "west" and "company" not in entry
    code, out = invoke(
        "tickets", "token", "--name", "顺达", "--role", "company", "--company", "江城顺达渣土运输有限公司"
    )
    assert code == 0 and '"company": "江城顺达渣土运输有限公司"' in out


@pytest.mark.parametrize(
    "args", [["--role", "company"], ["--role", "dispatcher", "--company", "顺达"], ["--role", "unit"]]
)
def test_tickets_token_refuses_a_login_that_could_not_work(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["tickets", "token", "--name", "x", *args])
    assert result.exit_code == 2 and "Error:" in result.output and "give it to" not in result.output  # no token issued


def test_the_gateway_refuses_a_broken_city_with_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    city = tmp_path / "city"
    shutil.copytree(Path(__file__).resolve().parents[2] / "cities" / "demo", city)
    (city / "terminals.yaml").write_text("- model: ZT-M2019\n  cover_closed: {tlv: 300, bit: 0}\n", encoding="utf-8")
    monkeypatch.setenv("CITYWATCH_CITY_DIR", str(city))
    result = CliRunner().invoke(main, ["gateway", "jt808", "--port", "0"])
    assert result.exit_code == 1
    assert "gateway stopped: CityConfigError" in result.output and "terminals.yaml" in result.output


def test_version_and_a_bad_log_level_are_clean() -> None:
    code, out = invoke("--version")
    assert code == 0 and out.startswith("citywatch, version ")
    result = CliRunner().invoke(main, ["--log-level", "bogus", "contract"])
    assert result.exit_code == 2 and "Invalid value for '--log-level'" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_rules_check_checks_the_citys_tickets_yaml_too(tmp_path: Path) -> None:
    city = tmp_path / "city"
    shutil.copytree(REPO / "cities" / "demo", city)
    (city / "tickets.yaml").write_text("version: 1\nmatters: {'06010': {handle: soon}}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["rules", "check", str(city)])
    assert result.exit_code == 1 and "tickets.yaml" in result.output and "Traceback" not in result.output


def test_without_mosquitto_or_the_broker_extra_the_demo_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "amqtt.broker", None)  # as if the extra were not installed
    with pytest.raises(BrokerError, match=r"pip install 'citywatch\[broker\]'"):
        start_broker(free_port(), prefer="amqtt")
