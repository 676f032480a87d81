"""Broker accounts of devices: entries of Mosquitto's password file, added and removed in place.

A device logs in as ``{kind}/{device_id}``. The ACL line ``pattern write citywatch/v1/%u/#``
then binds both the kind and the id to the login (Mosquitto substitutes the whole username, slash
included), so an account is one password-file line and no per-device ACL entry is needed. Hashes
are Mosquitto 2.0's own ``$7$`` format (PBKDF2-SHA512), made with hashlib: no ``mosquitto_passwd``
is needed where the command runs. The broker applies a change when it gets SIGHUP.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
import secrets
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from devices.contracts import DEVICE_ID_PATTERN, DEVICE_KINDS, TOPIC_ROOT

T = TypeVar("T")

KIND_BINDING_ACL = f"pattern write {TOPIC_ROOT}/%u/#"
HASH_ITERATIONS = 101  # mosquitto_passwd's default; passwords are random 192-bit tokens, so more buys nothing
SALT_BYTES = 12  # as mosquitto_passwd
PASSWORD_BYTES = 24  # 32 URL-safe characters


class ProvisioningError(RuntimeError):
    """A device account cannot be added, revoked or applied."""


@dataclass(frozen=True, slots=True)
class DeviceAccount:
    """A device's broker login; the password exists only in this object and the device."""

    kind: str
    device_id: str
    password: str = field(repr=False)

    @property
    def username(self) -> str:
        """Return the broker username, ``{kind}/{device_id}``."""
        return username_for(self.kind, self.device_id)

    @property
    def topic_prefix(self) -> str:
        """Return the topic level under which the device may publish."""
        return f"{TOPIC_ROOT}/{self.username}"


def validate_device_id(device_id: str) -> str:
    """Return the id if it matches the wire contract's device-id pattern; refuse it otherwise."""
    if not re.fullmatch(DEVICE_ID_PATTERN, device_id):
        raise ProvisioningError(f"invalid device id {device_id!r}: it must match {DEVICE_ID_PATTERN}")
    return device_id


def username_for(kind: str, device_id: str) -> str:
    """Return a device's broker username; refuse an unknown kind or an invalid id."""
    if kind not in DEVICE_KINDS:
        raise ProvisioningError(f"unknown device kind {kind!r}; valid kinds: {', '.join(DEVICE_KINDS)}")
    return f"{kind}/{validate_device_id(device_id)}"


def hash_password(password: str, salt: bytes | None = None, iterations: int = HASH_ITERATIONS) -> str:
    """Return Mosquitto 2.0's ``$7$iterations$salt$hash`` (PBKDF2-SHA512, base64) for a password."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${_b64(salt)}${_b64(digest)}"


def add_device(passwd_file: Path, kind: str, device_id: str) -> DeviceAccount:
    """Add a device's account with a fresh random password; refuse an id that has one already."""
    account = DeviceAccount(kind, device_id, secrets.token_urlsafe(PASSWORD_BYTES))
    entry = f"{account.username}:{hash_password(account.password)}"

    def change(lines: list[str]) -> tuple[list[str], None]:
        taken = _device_username(lines, device_id)
        if taken is not None:
            raise ProvisioningError(f"device {device_id} already has an account ({taken}); revoke it first")
        return [*lines, entry], None

    _edit(passwd_file, change)
    return account


def revoke_device(passwd_file: Path, device_id: str) -> str:
    """Remove a device's account, whatever its kind; return the username removed."""
    validate_device_id(device_id)

    def change(lines: list[str]) -> tuple[list[str], str]:
        username = _device_username(lines, device_id)
        if username is None:
            raise ProvisioningError(f"device {device_id} has no account in {passwd_file}")
        return [line for line in lines if _user(line) != username], username

    return _edit(passwd_file, change)


def require_kind_binding(acl_file: Path) -> None:
    """Refuse to go on unless the broker's ACL binds kind and id to a device's login."""
    try:
        lines = acl_file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ProvisioningError(f"cannot read the broker's ACL {acl_file}: {exc}") from exc
    if KIND_BINDING_ACL not in (" ".join(line.split()) for line in lines):
        raise ProvisioningError(
            f"{acl_file} has no line `{KIND_BINDING_ACL}`: a device account made now "
            "could not publish (see deploy/mosquitto/acl)"
        )


def reload_broker(pid_file: Path) -> int:
    """Send SIGHUP to the broker of a pid file (it re-reads passwords and ACL); return its pid."""
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise ProvisioningError(f"cannot read the broker's pid from {pid_file}: {exc}") from exc
    if pid <= 1:  # 0 or -1 would signal our own process group or every process
        raise ProvisioningError(f"{pid_file} holds no broker pid: {pid}")
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        raise ProvisioningError(f"cannot signal the broker (pid {pid} from {pid_file}): {exc}") from exc
    return pid


def _edit(path: Path, change: Callable[[list[str]], tuple[list[str], T]]) -> T:
    """Rewrite the password file in place under an exclusive lock; return what change returned.

    In place, not by renaming a new file over it: a single-file Docker bind mount keeps the old
    inode (the broker would re-read stale accounts), and owner and mode (uid 1883, 0600) stay.
    """
    try:
        handle = path.open("r+", encoding="utf-8", newline="\n")
    except OSError as exc:
        raise ProvisioningError(
            f"cannot open the broker's password file {path}: {exc} (it must exist "
            "and be writable: run as its owner or root)"
        ) from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines, result = change(handle.read().splitlines())
        handle.seek(0)
        handle.write("".join(f"{line}\n" for line in lines))
        handle.truncate()
        handle.flush()
        os.fsync(handle.fileno())
    return result


def _device_username(lines: list[str], device_id: str) -> str | None:
    """Return the username of the device's account in these password-file lines, if any."""
    names = {f"{kind}/{device_id}" for kind in DEVICE_KINDS}
    return next((_user(line) for line in lines if _user(line) in names), None)


def _user(line: str) -> str:
    return line.split(":", 1)[0]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
