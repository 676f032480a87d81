"""Change a city directory while it runs: issue and revoke permits, add and remove vehicles.

Each change is checked as a whole new city (the same validation every process runs) before a byte
is written; then the changed file is replaced atomically, one line of ``changes.jsonl`` records who
did what with the entry before and after, and city.yaml's ``version`` is raised last, which is what
every running process follows (``citywatch.live_city``). A revoked permit is kept with its
``revoked_at`` (the record, and so a replay judges earlier trips as they were). Coordinates come in
WGS-84 unless the request says otherwise and are written in the datum permits.yaml declares. Files
the API edits are rewritten as data: their comments do not survive (city.yaml's do: only its version
line changes). One change at a time, across processes (an exclusive lock on the directory).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from devices.datum import Datum, convert
from devices.inventory import CityConfigError, city_from_files, read_city_files

AUDIT_FILE = "changes.jsonl"
LOCK_FILE = ".edit.lock"
VERSION_LINE = re.compile(r"^version:\s*\d+\s*$", re.MULTILINE)
WRITES = {  # the files each change rewrites
    "issue_permit": ("permits.yaml",),
    "revoke_permit": ("permits.yaml",),
    "put_vehicle": ("vehicles.yaml",),
    "remove_vehicle": ("vehicles.yaml", "permits.yaml"),
}


class CityEditError(ValueError):
    """A change that cannot be made: ``status`` is the HTTP status an API answers with."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Change:
    """A change made: the new city version and what the audit line says."""

    version: int
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class CityEditor:
    """Makes changes to one city directory, one at a time."""

    def __init__(self, city_dir: Path, clock: Callable[[], datetime]) -> None:
        self.city_dir, self.clock = city_dir, clock

    def issue_permit(self, permit: dict[str, Any], who: Mapping[str, str], datum: Datum = "WGS-84") -> Change:
        """Add a permit; a standing permit of the same truck is revoked now (superseded)."""
        now = self.clock().isoformat()

        def change(files: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
            permits = list(files.get("permits.yaml") or [])
            if any(p.get("permit_id") == permit["permit_id"] for p in permits):
                raise CityEditError(f"permit {permit['permit_id']!r} exists: revoke it and issue a new id")
            entry = {**permit, "route": _route_in(permit["route"], datum, _datum_of(files, "permits.yaml"))}
            superseded = [p for p in permits if p.get("vehicle_id") == permit["vehicle_id"] and not p.get("revoked_at")]
            permits = [p | {"revoked_at": now} if p in superseded else p for p in permits] + [entry]
            files["permits.yaml"] = permits
            return (superseded[0] if superseded else None), entry

        return self._commit("issue_permit", permit["permit_id"], who, change)

    def revoke_permit(self, permit_id: str, who: Mapping[str, str]) -> Change:
        """Revoke a standing permit from now on; it stays in permits.yaml with its ``revoked_at``."""
        now = self.clock().isoformat()

        def change(files: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
            permits = list(files.get("permits.yaml") or [])
            found = next((p for p in permits if p.get("permit_id") == permit_id), None)
            if found is None:
                raise CityEditError(f"no permit {permit_id!r}", status=404)
            if found.get("revoked_at"):
                raise CityEditError(f"permit {permit_id!r} was revoked at {found['revoked_at']}")
            files["permits.yaml"] = [p | {"revoked_at": now} if p is found else p for p in permits]
            return found, found | {"revoked_at": now}

        return self._commit("revoke_permit", permit_id, who, change)

    def put_vehicle(self, vehicle: dict[str, Any], who: Mapping[str, str]) -> Change:
        """Add a vehicle, or replace the one with its id (a truck changing company, a new terminal)."""

        def change(files: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
            vehicles = list(files.get("vehicles.yaml") or [])
            old = next((v for v in vehicles if v.get("vehicle_id") == vehicle["vehicle_id"]), None)
            files["vehicles.yaml"] = [v for v in vehicles if v is not old] + [vehicle]
            return old, vehicle

        return self._commit("put_vehicle", vehicle["vehicle_id"], who, change)

    def remove_vehicle(self, vehicle_id: str, who: Mapping[str, str]) -> Change:
        """Remove a vehicle with no standing permit (its revoked permits go too; the audit keeps them)."""

        def change(files: dict[str, Any]) -> tuple[dict[str, Any] | None, None]:
            vehicles = list(files.get("vehicles.yaml") or [])
            old = next((v for v in vehicles if v.get("vehicle_id") == vehicle_id), None)
            if old is None:
                raise CityEditError(f"no vehicle {vehicle_id!r}", status=404)
            permits = list(files.get("permits.yaml") or [])
            if any(p.get("vehicle_id") == vehicle_id and not p.get("revoked_at") for p in permits):
                raise CityEditError(f"vehicle {vehicle_id!r} holds a standing permit: revoke it first")
            files["vehicles.yaml"] = [v for v in vehicles if v is not old]
            files["permits.yaml"] = [p for p in permits if p.get("vehicle_id") != vehicle_id]
            return old, None

        return self._commit("remove_vehicle", vehicle_id, who, change)

    def _commit(
        self, action: str, target: str, who: Mapping[str, str], change: Callable[[dict[str, Any]], tuple[Any, Any]]
    ) -> Change:
        """Apply a change to the files, check the whole city, write it and raise the version."""
        with self._locked():
            files = read_city_files(self.city_dir)
            version = int(files["city.yaml"]["version"]) + 1
            before, after = change(files)
            files["city.yaml"] = {**files["city.yaml"], "version": version}
            try:
                city_from_files(self.city_dir, files)
            except CityConfigError as exc:
                raise CityEditError(f"the city would not load: {exc}", status=422) from exc
            made = Change(version, action, target, _plain(before), _plain(after))
            self._write(files, made, who)
            return made

    def _write(self, files: dict[str, Any], made: Change, who: Mapping[str, str]) -> None:
        """Replace the changed files, append the audit line, then raise city.yaml's version (what processes follow)."""
        for name in WRITES[made.action]:
            _replace(
                self.city_dir / name, yaml.safe_dump(_plain(files.get(name) or []), allow_unicode=True, sort_keys=False)
            )
        line = {"at": self.clock().isoformat(), **who, **_plain(made.__dict__)}
        with (self.city_dir / AUDIT_FILE).open("a", encoding="utf-8") as audit:
            audit.write(json.dumps(line, ensure_ascii=False) + "\n")
        meta = (self.city_dir / "city.yaml").read_text(encoding="utf-8")
        if not VERSION_LINE.search(meta):
            raise CityEditError("city.yaml has no top-level 'version: N' line to raise", status=500)
        _replace(self.city_dir / "city.yaml", VERSION_LINE.sub(f"version: {made.version}", meta, count=1))

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with (self.city_dir / LOCK_FILE).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest audit lines, newest first."""
        path = self.city_dir / AUDIT_FILE
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return [json.loads(line) for line in reversed(lines[-limit:])]


def _datum_of(files: dict[str, Any], name: str) -> Datum:
    """Return the datum city.yaml declares for a file."""
    meta = files["city.yaml"]
    return (meta.get("datums") or {}).get(name) or meta.get("datum") or "WGS-84"


def _route_in(route: list[list[float]], given: Datum, target: Datum) -> list[list[float]]:
    """Return a route given in one datum as the file's datum has it (via WGS-84), to 1e-7 degrees."""
    lon, lat = convert([p[0] for p in route], [p[1] for p in route], given, target)
    return [[round(float(x), 7), round(float(y), 7)] for x, y in zip(lon, lat, strict=True)]


def _plain(value: Any) -> Any:
    """Return a value with dates as ISO text, as YAML and JSON keep it."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _replace(path: Path, text: str) -> None:
    """Write a file atomically (a reader sees the old one or the new one, never half)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
