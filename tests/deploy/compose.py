"""docker-compose.yml read as Compose reads it, for the static tests of the production stack.

No Docker engine runs here, so the file is checked as data: loaded with YAML merge keys resolved,
``${VAR}`` interpolated by the Compose Specification's rules (12-interpolation.md), and validated
against the specification's JSON schema (tests/data/compose-spec/, vendored: see its README).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SCHEMA_DIR = REPO / "tests" / "data" / "compose-spec"
SCHEMA_FILE = SCHEMA_DIR / "compose-spec.json"

# `$$`, `${...}` or `$NAME`; any other `$` is kept as it is (12-interpolation.md).
_TOKEN = re.compile(r"\$\$|\$\{(?P<braced>[^}]*)\}|\$(?P<plain>[A-Za-z_][A-Za-z0-9_]*)")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?", re.DOTALL)


class InterpolationError(ValueError):
    """A ``${VAR:?message}`` without its variable, or a form Compose does not know."""


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """Return the compose file as loaded by YAML (anchors and ``<<`` merges resolved), not interpolated."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path}: not a mapping"
    return document


def load_schema() -> dict[str, Any]:
    """Return the Compose Specification's JSON schema (the vendored copy)."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Return a string with its variables substituted as Compose does (no nesting)."""
    return _TOKEN.sub(lambda match: _substitute(match, env), text)


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match.group(0) == "$$":
        return "$"
    if match.group("plain"):
        return env.get(match.group("plain"), "")
    braced = _BRACED.fullmatch(match.group("braced"))
    if braced is None or "$" in (braced["arg"] or ""):
        raise InterpolationError(f"{match.group(0)}: not a form these tests know")
    value, op, arg = env.get(braced["name"]), braced["op"], braced["arg"] or ""
    if op in (":?", "?") and (value is None or (op == ":?" and not value)):
        raise InterpolationError(f"{braced['name']}: {arg}")
    if op == ":-":
        return value or arg
    if op == "-":
        return arg if value is None else value
    if op == ":+":
        return arg if value else ""
    if op == "+":
        return "" if value is None else arg
    return value or ""


def interpolated(node: Any, env: Mapping[str, str]) -> Any:
    """Return a copy of a loaded document with every string value interpolated (keys stay as they are)."""
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolated(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def variables(node: Any) -> set[str]:
    """Return the names of the variables a loaded document's values interpolate."""
    found: set[str] = set()
    for text in strings(node):
        for match in _TOKEN.finditer(text):
            braced = _BRACED.match(match.group("braced") or "")
            if match.group("plain"):
                found.add(match.group("plain"))
            elif braced:
                found.add(braced["name"])
    return found


def strings(node: Any) -> Iterator[str]:
    """Yield every string value of a loaded document."""
    if isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


def header_comment(path: Path = COMPOSE_FILE) -> str:
    """Return the comment block at the top of a YAML file."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """Return a service's environment as a mapping (the list form ``KEY=value`` too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def secret_names(service: Mapping[str, Any]) -> dict[str, str]:
    """Return the secrets a service mounts: name -> path in the container."""
    mounted: dict[str, str] = {}
    for item in service.get("secrets") or []:
        name = item if isinstance(item, str) else item["source"]
        target = name if isinstance(item, str) else item.get("target", name)
        mounted[name] = target if target.startswith("/") else f"/run/secrets/{target}"
    return mounted
