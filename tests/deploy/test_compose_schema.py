"""docker-compose.yml is a valid Compose file: the Compose Specification's JSON schema, before and after interpolation."""

from __future__ import annotations

import copy
import hashlib
import re
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tests.deploy.compose import (
    SCHEMA_DIR,
    SCHEMA_FILE,
    InterpolationError,
    interpolate,
    interpolated,
    load_compose,
    load_schema,
    strings,
)

# The values an operator's .env might hold: every variable set, none of them to its default.
OPERATOR_ENV = {
    "CITYWATCH_SECRETS_DIR": "/etc/citywatch/secrets",
    "CITYWATCH_MQTT_PASSWD_FILE": "/etc/citywatch/mosquitto/passwd",
    "CITYWATCH_MQTT_CERTS_DIR": "/etc/citywatch/mosquitto/certs",
    "CITYWATCH_MQTTS_PUBLISHED_PORT": "18883",
    "CITYWATCH_MQTT_PUBLISHED_PORT": "11883",
    "CITYWATCH_KAFKA_CLUSTER_ID": "5L6g3nShT-eMCtK--X86sw",
    "CITYWATCH_STREAMS_REPLICAS": "3",
    "CITYWATCH_GRAFANA_PUBLISHED_PORT": "13000",
    "CITYWATCH_TICKET_API_PUBLISHED_PORT": "18766",
    "CITYWATCH_PROMETHEUS_PUBLISHED_PORT": "19090",
    "CITYWATCH_TICKET_WEBHOOK_URL": "https://platform.example/webhook",
}


def schema_errors(document: Any) -> list[str]:
    """Return the schema's complaints about a compose document, one line each with its path."""
    validator = Draft7Validator(load_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors]


def test_the_vendored_schema_is_the_one_its_readme_names() -> None:
    readme = (SCHEMA_DIR / "README.md").read_text(encoding="utf-8")
    (recorded,) = re.findall(r"sha256: `([0-9a-f]{64})`", readme)
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == recorded
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft-07/schema", "a new draft needs another validator"
    Draft7Validator.check_schema(schema)
    assert (SCHEMA_DIR / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")


def test_the_compose_file_as_written_is_valid() -> None:
    assert schema_errors(load_compose()) == []


@pytest.mark.parametrize("env", [{}, OPERATOR_ENV], ids=["defaults", "operator-env"])
def test_the_compose_file_is_valid_after_interpolation(env: dict[str, str]) -> None:
    document = interpolated(load_compose(), env)
    assert schema_errors(document) == []
    assert not [text for text in strings(document) if "${" in text], "something was left uninterpolated"
    assert document["services"]["streams"]["deploy"]["replicas"] == env.get("CITYWATCH_STREAMS_REPLICAS", "1")


def test_no_variable_is_required() -> None:
    """Every secret is a file now: `docker compose config` needs no .env at all."""
    interpolated(load_compose(), {})  # a ${VAR:?...} without its variable would raise


def test_the_schema_catches_mistakes() -> None:
    """The validation is not vacuous: a misspelt key, a wrong type and an unknown condition are refused."""
    document = copy.deepcopy(load_compose())
    document["services"]["ingest"]["healthcheck"]["intervall"] = "10s"
    document["services"]["kafka"]["restart"] = ["unless-stopped"]
    document["services"]["grafana"]["depends_on"]["influxdb"]["condition"] = "service_ready"
    document["services"]["tickets"]["logging"] = {"driver": "json-file", "option": {"max-size": "1m"}}
    errors = "\n".join(schema_errors(document))
    assert "services/ingest/healthcheck: 'intervall' does not match any of the regexes: '^x-'" in errors
    assert "services/kafka/restart: ['unless-stopped'] is not of type 'string'" in errors
    assert "services/grafana/depends_on: " in errors
    assert "services/tickets/logging: 'option' does not match any of the regexes: '^x-'" in errors
    assert len(errors.splitlines()) == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${A:-d}", "d"),
        ("${B:-d}", "d"),  # set but empty: the default
        ("${B-d}", ""),  # set: its (empty) value
        ("${C-d}", "c"),
        ("${A-d}", "d"),
        ("${C:+alt}", "alt"),
        ("${B:+alt}", ""),
        ("${B+alt}", "alt"),
        ("${A+alt}", ""),
        ("${C}/$C/x", "c/c/x"),
        ("$$SYS/${C}", "$SYS/c"),
        ("${A}", ""),  # unset, no default: empty (compose warns)
        ("5$ or $1", "5$ or $1"),  # not a variable: kept
    ],
)
def test_interpolation_follows_compose(text: str, expected: str) -> None:
    assert interpolate(text, {"B": "", "C": "c"}) == expected


@pytest.mark.parametrize("text", ["${A:?set A}", "${B:?set B}", "${A?set A}", "${A:-${C}}", "${A/x/y}"])
def test_interpolation_refuses_what_compose_would(text: str) -> None:
    with pytest.raises(InterpolationError):
        interpolate(text, {"B": "", "C": "c"})
