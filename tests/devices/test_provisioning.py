"""Device accounts in Mosquitto's password file: hash format, validation, in-place edits, reload."""

from __future__ import annotations

import base64
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from devices.provisioning import (
    KIND_BINDING_ACL,
    ProvisioningError,
    add_device,
    hash_password,
    reload_broker,
    require_kind_binding,
    revoke_device,
    username_for,
)

REPO = Path(__file__).resolve().parents[2]
# Made by mosquitto_passwd 2.0.11 (Debian 12): password "correct horse battery staple".
MOSQUITTO_PASSWD_LINE = (
    "vehicle/truck-0001:$7$101$4/fcviBclfu+keZ8$OMAJyB5Gh+7KUu35/hwJvfOhQ71ojRmT5rFT+FzacpcG0MF"
    "xtnLhXPXHQCChNk8YUvRI0zCQvUaja4u9FIL+5w=="
)


@pytest.fixture
def passwd(tmp_path: Path) -> Path:
    """Return a password file holding a service account, mode 0600."""
    path = tmp_path / "passwd"
    path.write_text(f"ingest:{hash_password('x')}\n")
    path.chmod(0o600)
    return path


def test_hashes_are_mosquitto_passwds_own_format() -> None:
    _, hashed = MOSQUITTO_PASSWD_LINE.split(":", 1)
    salt = base64.b64decode(hashed.split("$")[3])
    assert hash_password("correct horse battery staple", salt, 101) == hashed


def test_a_fresh_hash_has_a_random_salt() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second and first.startswith("$7$101$") and len(base64.b64decode(first.split("$")[3])) == 12


def test_the_username_binds_kind_and_id() -> None:
    assert username_for("vehicle", "truck-0001") == "vehicle/truck-0001"


@pytest.mark.parametrize(
    ("kind", "device_id", "message"),
    [
        ("truck", "truck-0001", "unknown device kind 'truck'; valid kinds: vehicle, camera, facility, site"),
        ("vehicle", "truck/0001", "invalid device id"),
        ("vehicle", "-truck", "invalid device id"),
        ("vehicle", "truck+", "invalid device id"),
        ("vehicle", "truck#", "invalid device id"),
        ("vehicle", "truck-0001\n", "invalid device id"),
        ("vehicle", "t" * 65, "invalid device id"),
        ("vehicle", "", "invalid device id"),
    ],
)
def test_an_unknown_kind_or_an_invalid_id_is_refused(passwd: Path, kind: str, device_id: str, message: str) -> None:
    before = passwd.read_text()
    with pytest.raises(ProvisioningError, match=message):
        add_device(passwd, kind, device_id)
    assert passwd.read_text() == before


def test_add_appends_one_line_in_place(passwd: Path) -> None:
    before, inode = passwd.read_text(), passwd.stat().st_ino
    account = add_device(passwd, "site", "site-0001")
    lines = passwd.read_text().splitlines()
    assert lines[:-1] == before.splitlines() and lines[-1].startswith("site/site-0001:$7$101$")
    assert passwd.stat().st_ino == inode and stat.S_IMODE(passwd.stat().st_mode) == 0o600
    assert len(account.password) == 32 and account.password not in passwd.read_text()
    assert account.password not in repr(account)


def test_a_device_id_has_one_account_whatever_the_kind(passwd: Path) -> None:
    add_device(passwd, "vehicle", "truck-0001")
    with pytest.raises(ProvisioningError, match=r"already has an account \(vehicle/truck-0001\)"):
        add_device(passwd, "camera", "truck-0001")


def test_revoke_removes_only_that_device(passwd: Path) -> None:
    add_device(passwd, "vehicle", "truck-0001")
    add_device(passwd, "vehicle", "truck-0002")
    inode = passwd.stat().st_ino
    assert revoke_device(passwd, "truck-0001") == "vehicle/truck-0001"
    assert [line.split(":")[0] for line in passwd.read_text().splitlines()] == ["ingest", "vehicle/truck-0002"]
    assert passwd.stat().st_ino == inode
    with pytest.raises(ProvisioningError, match="truck-0001 has no account"):
        revoke_device(passwd, "truck-0001")


def test_a_missing_password_file_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningError, match="cannot open the broker's password file"):
        add_device(tmp_path / "nowhere", "vehicle", "truck-0001")
    assert not (tmp_path / "nowhere").exists()


def test_the_deploy_acl_binds_kind_and_id(tmp_path: Path) -> None:
    require_kind_binding(REPO / "deploy" / "mosquitto" / "acl")
    old = tmp_path / "acl"
    old.write_text("pattern write citywatch/v1/+/%u/#\n")
    with pytest.raises(ProvisioningError, match=KIND_BINDING_ACL.replace("+", r"\+")):
        require_kind_binding(old)


def test_reload_sends_sighup_to_the_pid_in_the_file(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "pid").write_text(f"{child.pid}\n")
        assert reload_broker(tmp_path / "pid") == child.pid
        assert child.wait(10) == -signal.SIGHUP  # no handler: SIGHUP's default action ends it
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)


@pytest.mark.parametrize("content", ["", "0", "-1", "1", "not-a-pid"])
def test_reload_refuses_a_pid_file_without_a_broker_pid(tmp_path: Path, content: str) -> None:
    (tmp_path / "pid").write_text(content)
    with pytest.raises(ProvisioningError):
        reload_broker(tmp_path / "pid")


def test_reload_says_when_the_broker_is_gone(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    (tmp_path / "pid").write_text(str(gone.pid))
    with pytest.raises(ProvisioningError, match=f"cannot signal the broker \\(pid {gone.pid}"):
        reload_broker(tmp_path / "pid")
