"""Cell values as registries write them, turned into the inventory's: dates, lists, time windows, kinds."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

LIST_SPLIT = re.compile(r"[;,，、；|\s]+")
DATE_FORMS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
WINDOW = re.compile(r"^(\d{1,2})[:：](\d{2})\s*[-~至到—–]\s*(?:次日)?(\d{1,2})[:：](\d{2})$")
KINDS = {
    "渣土车": "muck",
    "渣土": "muck",
    "muck": "muck",
    "垃圾车": "garbage",
    "环卫车": "garbage",
    "garbage": "garbage",
}


def as_date(text: str) -> date:
    """Read a date as registries write it: 2026-12-05, 2026/12/5, 2026.12.05, 2026年12月5日 or 20261205."""
    for form in DATE_FORMS:
        match = form.match(text.strip())
        if match:
            return date(*(int(g) for g in match.groups()))
    raise ValueError(f"not a date (2026-12-05, 2026/12/5 or 2026年12月5日; got {text!r})")


def as_list(text: str) -> list[str]:
    """Split a cell listing several ids (S1;S2, S1、S2, S1,S2)."""
    return [part for part in LIST_SPLIT.split(text.strip()) if part]


def as_windows(text: str) -> list[str]:
    """Read allowed hours such as ``22:00-06:00`` or ``22:00至次日06:00``, several separated by ; or 、."""
    windows = []
    for part in re.split(r"[;,，、；]+", text.strip()):
        match = WINDOW.match(part.strip())
        if part.strip() and not match:
            raise ValueError(f"not a time window such as 22:00-06:00 (got {part.strip()!r})")
        if match:
            h0, m0, h1, m1 = match.groups()
            windows.append(f"{int(h0):02d}:{m0}-{int(h1):02d}:{m1}")
    return windows


def as_kind(text: str) -> str:
    """Read a vehicle kind: muck / garbage or the Chinese names registries use (渣土车, 垃圾车, 环卫车)."""
    kind = KINDS.get(text.strip())
    if kind is None:
        raise ValueError(f"unknown vehicle kind {text!r} (渣土车 / muck or 垃圾车 / garbage; map others in values)")
    return kind


def as_float(text: str) -> float:
    """Read a number, allowing a unit suffix registries add (50米, 50 m)."""
    cleaned = re.sub(r"\s*(米|m|公里|km)$", "", text.strip())
    try:
        return float(cleaned)
    except ValueError as exc:
        raise ValueError(f"not a number (got {text!r})") from exc


CONVERTERS: dict[str, Any] = {
    "valid_from": as_date,
    "valid_to": as_date,
    "origin_sites": as_list,
    "disposal_sites": as_list,
    "vehicle_kinds": lambda t: [as_kind(k) for k in as_list(t)],
    "windows": as_windows,
    "kind": as_kind,
    "corridor_m": as_float,
    "lon": as_float,
    "lat": as_float,
}


def converted(field: str, value: Any) -> Any:
    """Return a source value as the inventory field wants it (text cells are parsed, typed values kept)."""
    if isinstance(value, str) and field in CONVERTERS:
        return CONVERTERS[field](value)
    if isinstance(value, date) and field in ("valid_from", "valid_to"):
        return value
    if isinstance(value, int | float) and field not in ("lon", "lat", "corridor_m"):
        return str(int(value)) if float(value).is_integer() else str(value)  # ids typed as numbers in a .dbf
    return value
