"""Settings: secrets from files (CITYWATCH_*_FILE), the database password kept out of the URL, data paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from citywatch.resources import CHECKOUT, in_checkout, shipped
from citywatch.secret_files import SecretFileError
from citywatch.settings import Settings, explain


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from no CITYWATCH_* secret variables (make test exports the services' settings)."""
    for name in ("MQTT_PASSWORD", "INFLUX_TOKEN", "TICKET_DB_URL", "TICKET_DB_PASSWORD", "DATA_DIR"):
        monkeypatch.delenv(f"CITYWATCH_{name}", raising=False)
        monkeypatch.delenv(f"CITYWATCH_{name}_FILE", raising=False)


def secret_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "secret"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYWATCH_MQTT_PASSWORD_FILE", str(secret_file(tmp_path, "s3cret pass\n")))
    settings = Settings()
    assert settings.mqtt_password is not None and settings.mqtt_password.get_secret_value() == "s3cret pass"
    assert "s3cret" not in repr(settings)


def test_the_variable_itself_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWATCH_INFLUX_TOKEN_FILE", str(secret_file(tmp_path, "from-file")))
    monkeypatch.setenv("CITYWATCH_INFLUX_TOKEN", "from-env")
    assert Settings().influx_token.get_secret_value() == "from-env"


@pytest.mark.parametrize("text", ["", "\n"])
def test_an_empty_secret_file_is_an_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = secret_file(tmp_path, text)
    monkeypatch.setenv("CITYWATCH_MQTT_PASSWORD_FILE", str(path))
    with pytest.raises(SecretFileError, match=f"CITYWATCH_MQTT_PASSWORD_FILE={path}: the file is empty"):
        Settings()


def test_only_secrets_are_read_from_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYWATCH_MQTT_HOST_FILE", str(secret_file(tmp_path, "elsewhere")))
    assert Settings().mqtt_host == "127.0.0.1"


def test_the_database_password_goes_into_the_url_and_is_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITYWATCH_TICKET_DB_URL", "postgresql+psycopg://citywatch@db:5432/tickets")
    monkeypatch.setenv("CITYWATCH_TICKET_DB_PASSWORD_FILE", str(secret_file(tmp_path, "p@ss/w:rd\n")))
    assert Settings().ticket_db_target() == "postgresql+psycopg://citywatch:p%40ss%2Fw%3Ard@db:5432/tickets"


def test_without_a_url_the_ticket_store_is_the_sqlite_file(tmp_path: Path) -> None:
    assert Settings(ticket_db=tmp_path / "t.sqlite").ticket_db_target() == tmp_path / "t.sqlite"


def test_data_paths_follow_the_data_dir_unless_set_one_by_one(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, ticket_db=tmp_path / "elsewhere.sqlite")
    assert settings.faust_data_dir == tmp_path / "faust"
    assert settings.deadletter_path == tmp_path / "deadletter.jsonl"
    assert settings.gateway_deadletter_path == tmp_path / "gateway-deadletter.jsonl"
    assert settings.ticket_db == tmp_path / "elsewhere.sqlite"


def test_in_the_checkout_the_defaults_are_the_repositorys_folders() -> None:
    assert in_checkout()
    settings = Settings()
    assert settings.data_dir == CHECKOUT / "var" and settings.city_dir == CHECKOUT / "cities" / "demo"
    assert shipped("scenarios") == CHECKOUT / "scenarios"


def test_explain_lists_every_bad_setting_on_one_line() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(mqtt_port="x", kafka_partitions=0)  # type: ignore[arg-type]
    text = explain(caught.value)
    assert "\n" not in text
    assert text.startswith("CITYWATCH_MQTT_PORT='x': ") and "CITYWATCH_KAFKA_PARTITIONS='0': " in text
    assert "default factory" not in text  # the paths that could not be derived are not errors of their own
