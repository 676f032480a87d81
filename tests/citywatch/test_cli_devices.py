"""`citywatch devices` as an operator meets it: the password once, clear refusals, how to reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from citywatch.cli import main
from devices.provisioning import hash_password

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    """Return a password file with the ingest account."""
    path = tmp_path / "passwd"
    path.write_text(f"ingest:{hash_password('x')}\n")
    return path


def run(passwd: Path, *args: str, acl: Path = REPO / "deploy" / "mosquitto" / "acl", **env: str) -> Result:
    """Run `citywatch devices ...` on this password file (no pid file unless given)."""
    settings = {"CITYWATCH_MQTT_PASSWD_FILE": str(passwd), "CITYWATCH_MQTT_ACL_FILE": str(acl), **env}
    return CliRunner().invoke(main, ["devices", *args], env=settings, catch_exceptions=False)


def test_add_prints_the_password_once_and_how_to_reload(passwd: Path) -> None:
    result = run(passwd, "add", "--kind", "vehicle", "truck-0001")
    assert result.exit_code == 0, result.output
    username, password = (line.split(": ", 1)[1] for line in result.stdout.splitlines())
    assert username == "vehicle/truck-0001" and len(password) == 32
    assert password not in passwd.read_text() and "vehicle/truck-0001:$7$" in passwd.read_text()
    assert "shown only this once" in result.stderr and "docker compose kill -s HUP mosquitto" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--kind", "truck", "t1"],
            "Invalid value for '--kind': 'truck' is not one of 'vehicle', 'camera', 'facility', 'site'",
        ),
        (["--kind", "vehicle", "bad/id"], "invalid device id 'bad/id'"),
        (["--kind", "vehicle", "truck:1"], "invalid device id 'truck:1'"),
    ],
)
def test_add_refuses_an_unknown_kind_or_an_invalid_id(passwd: Path, args: list[str], message: str) -> None:
    before = passwd.read_text()
    result = run(passwd, "add", *args)
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert passwd.read_text() == before


def test_add_refuses_when_the_acl_does_not_bind_the_kind(passwd: Path, tmp_path: Path) -> None:
    (tmp_path / "acl").write_text("pattern write citywatch/v1/+/%u/#\n")
    result = run(passwd, "add", "--kind", "vehicle", "truck-0001", acl=tmp_path / "acl")
    assert result.exit_code == 1 and "has no line `pattern write citywatch/v1/%u/#`" in result.output
    assert "truck-0001" not in passwd.read_text()


def test_revoke_removes_the_account(passwd: Path) -> None:
    run(passwd, "add", "--kind", "site", "site-0001")
    result = run(passwd, "revoke", "site-0001")
    assert result.exit_code == 0 and "revoked site/site-0001" in result.output
    assert "site-0001" not in passwd.read_text()
    again = run(passwd, "revoke", "site-0001")
    assert again.exit_code == 1 and "site-0001 has no account" in again.output


def test_a_bad_pid_file_says_the_change_is_written(passwd: Path, tmp_path: Path) -> None:
    result = run(passwd, "add", "--kind", "camera", "cam-0001", CITYWATCH_MQTT_PID_FILE=str(tmp_path / "none.pid"))
    assert result.exit_code == 1 and "The change is written; reload the broker by hand" in result.output
    assert "password: " in result.stdout and "camera/cam-0001:" in passwd.read_text()
