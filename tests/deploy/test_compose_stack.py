"""docker-compose.yml keeps its own rules: healthchecks, secrets as files, documented variables, log rotation."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from citywatch.settings import Settings
from tests.deploy.compose import (
    REPO,
    environment,
    header_comment,
    interpolated,
    load_compose,
    secret_names,
    variables,
)

COMPOSE = load_compose()
SERVICES: dict[str, Any] = COMPOSE["services"]
SECRETS: dict[str, Any] = COMPOSE["secrets"]
SECRET_LIKE = re.compile(r"(PASSWORD|PASSWD|TOKENS?|SECRET|_KEY)$")  # *_FILE / *__FILE variables end otherwise
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s]+:[^/@]*@")  # user:password@host, the password interpolated or not


def service_ids() -> list[str]:
    return sorted(SERVICES)


@pytest.mark.parametrize("name", service_ids())
def test_every_service_has_a_healthcheck(name: str) -> None:
    check = SERVICES[name].get("healthcheck") or {}
    assert check.get("test") and check["test"][0] in ("CMD", "CMD-SHELL") and not check.get("disable")
    assert {"interval", "timeout", "retries", "start_period"} <= set(check)


def test_health_conditions_point_at_services_with_a_healthcheck() -> None:
    for name, service in SERVICES.items():
        for needed, how in (service.get("depends_on") or {}).items():
            assert needed in SERVICES, f"{name} depends on an unknown service {needed}"
            if how["condition"] == "service_healthy":
                assert SERVICES[needed].get("healthcheck"), f"{name} waits for {needed} to be healthy: it has no check"
    assert SERVICES["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", service_ids())
def test_every_service_rotates_its_logs(name: str) -> None:
    logging = SERVICES[name].get("logging")
    assert logging == COMPOSE["x-logging"], f"{name}: use `logging: *logging`"
    assert logging["driver"] == "json-file" and {"max-size", "max-file"} <= set(logging["options"])


@pytest.mark.parametrize("name", service_ids())
def test_every_image_is_pinned(name: str) -> None:
    image = SERVICES[name]["image"]
    _, _, tag = image.rpartition(":")
    assert tag and tag != "latest" and re.search(r"\d", tag), f"{name}: pin {image} to a version"


def test_every_variable_is_documented_in_the_header() -> None:
    header = header_comment()
    used = variables(COMPOSE)
    assert used, "no variables found: the scan is broken"
    assert sorted(v for v in used if v not in header) == []
    assert not any(SECRET_LIKE.search(v) for v in used), "a secret through a variable: use a secret file"


def test_every_secret_is_declared_used_and_a_git_ignored_file() -> None:
    mounted = {secret for service in SERVICES.values() for secret in secret_names(service)}
    assert mounted == set(SECRETS), "a secret mounted but not declared, or declared but never used"
    readme = (REPO / "secrets" / "README.md").read_text(encoding="utf-8")
    for name, secret in SECRETS.items():
        assert secret == {"file": f"${{CITYWATCH_SECRETS_DIR:-./secrets}}/{name}"}
        assert f"`{name}`" in readme, f"secrets/README.md does not say how to make {name}"
        assert _git_ignores(f"secrets/{name}")
    assert not _git_ignores("secrets/README.md")


def _git_ignores(path: str) -> bool:
    done = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", path], check=False)
    assert done.returncode in (0, 1), "git check-ignore failed"
    return done.returncode == 0


@pytest.mark.parametrize("name", service_ids())
def test_secrets_reach_services_as_files_only(name: str) -> None:
    service = SERVICES[name]
    mounted = secret_names(service)
    for key, value in environment(service).items():
        assert not SECRET_LIKE.search(key), f"{name}: {key} holds a secret in the environment: use {key}_FILE"
        assert not CREDENTIALS_IN_URL.search(value), f"{name}: {key} has credentials in a URL"
        if value.startswith("/run/secrets/"):
            assert key.endswith("_FILE") and value in mounted.values(), f"{name}: {key} names an unmounted secret"
    assert all(path.startswith("/run/secrets/") for path in mounted.values())


def test_citywatch_reads_each_file_variable_into_a_secret_setting() -> None:
    """CITYWATCH_<NAME>_FILE works for secret settings only (citywatch/settings.py)."""
    fields = Settings.model_fields
    for name, service in SERVICES.items():
        for key in environment(service):
            if key.startswith("CITYWATCH_") and key.endswith("_FILE") and key != "CITYWATCH_MQTT_PASSWD_FILE":
                field = key.removeprefix("CITYWATCH_").removesuffix("_FILE").lower()
                assert field in fields, f"{name}: {key} names no setting"
                assert "SecretStr" in str(fields[field].annotation), f"{name}: {key}: {field} is not a secret"


def test_the_ticket_database_url_names_the_user_only() -> None:
    for name in ("streams", "tickets"):
        env = environment(SERVICES[name])
        assert env["CITYWATCH_TICKET_DB_URL"] == "postgresql+psycopg://citywatch@postgres:5432/tickets"
        assert env["CITYWATCH_TICKET_DB_PASSWORD_FILE"] == "/run/secrets/ticket_db_password"
    postgres = environment(SERVICES["postgres"])
    assert postgres["POSTGRES_USER"] == "citywatch" and postgres["POSTGRES_DB"] == "tickets"
    assert postgres["POSTGRES_PASSWORD_FILE"] == "/run/secrets/ticket_db_password"


def test_grafana_never_gets_the_influx_admin_token() -> None:
    grafana = SERVICES["grafana"]
    assert "influx_token" not in secret_names(grafana)
    assert not [key for key in environment(grafana) if "TOKEN" in key]
    assert environment(grafana)["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"


def test_only_the_writers_get_the_influx_token() -> None:
    holders = {name for name, service in SERVICES.items() if "influx_token" in secret_names(service)}
    assert holders == {"influxdb", "streams", "tickets"}


def test_the_streams_worker_runs_the_citywatch_command() -> None:
    assert SERVICES["streams"]["command"] == ["citywatch", "--log-json", "worker"]


@pytest.mark.parametrize("name", service_ids())
def test_mounted_files_and_named_volumes_exist(name: str) -> None:
    """Bind-mounted repository files exist; named volumes are declared (operator files are created by hand)."""
    for volume in interpolated(SERVICES[name].get("volumes") or [], {}):
        source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
        if source.startswith("./"):
            if isinstance(volume, dict) and volume.get("bind", {}).get("create_host_path") is False:
                continue  # passwd, TLS files: made on the production host, never in git
            assert (REPO / source).exists(), f"{name}: {source} is not in the repository"
        else:
            assert source in COMPOSE["volumes"], f"{name}: volume {source} is not declared"
