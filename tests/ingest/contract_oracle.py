"""An independent reading of the wire contract (README, "Wire contract") for the fuzz tests.

It decides what ingest must make of a message with the standard library only: the JSON type and range
of every field written out again by hand, and the order of the checks. ``expected`` returns the
dead-letter reason, or ``"accepted"``. It shares no code with ``ingest.validate`` or the models, so a
model loosened by accident (or a parser that keeps the last of two keys) shows up as a disagreement.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_PAYLOAD = 4096
SKEW_MS = 300_000
MIN_TS_MS = 946_684_800_000
INT64_MAX = 2**63 - 1
JSON_MAX_DEPTH = 201  # pydantic's JSON parser (jiter) refuses deeper nesting as invalid JSON
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class F:
    """One field: its JSON type (int, num, bool, str, enum, one = the integer 1) and what it allows."""

    type: str
    lo: float | None = None
    hi: float | None = None
    hi_open: bool = False
    required: bool = True
    nullable: bool = False
    min_len: int = 0
    max_len: int | None = None
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None


COMMON = {
    "schema_version": F("one", required=False),
    "device_id": F("str", pattern=DEVICE_ID),
    "ts_ms": F("int", lo=MIN_TS_MS),
    "seq": F("int", lo=0, hi=INT64_MAX),
}
LON, LAT = F("num", -180.0, 180.0), F("num", -90.0, 90.0)
LOADS = ("empty", "half", "full")
EVENTS = ("exposed_garbage", "accumulated_muck", "spillage", "unsealed_truck", "mud_on_wheels", "bin_overflow")
SPEC: dict[str, dict[str, F]] = {
    "vehicle/telemetry": {
        **COMMON,
        "lon": LON,
        "lat": LAT,
        "speed_kmh": F("num", 0.0, 250.0),
        "heading_deg": F("num", 0.0, 360.0, hi_open=True),
        "load_state": F("enum", required=False, choices=LOADS),
        "cover_closed": F("bool", required=False, nullable=True),
        "body_lifted": F("bool", required=False, nullable=True),
    },
    "camera/event": {
        **COMMON,
        "event_id": F("str", min_len=1, max_len=64),
        "event_type": F("enum", choices=EVENTS),
        "lon": LON,
        "lat": LAT,
        "confidence": F("num", 0.0, 1.0),
        "plate": F("str", required=False, nullable=True, max_len=16),
        "image_ref": F("str", required=False, nullable=True, max_len=512),
    },
    "facility/telemetry": {
        **COMMON,
        "fill_ratio": F("num", 0.0, 1.5),
        "nh3_mgm3": F("num", 0.0, 1000.0, required=False, nullable=True),
        "h2s_mgm3": F("num", 0.0, 1000.0, required=False, nullable=True),
    },
    "site/telemetry": {**COMMON, "pm10_ugm3": F("num", 0.0, 20_000.0), "noise_dba": F("num", 0.0, 200.0)},
    "status": {
        **COMMON,
        "state": F("enum", choices=("online", "offline")),
        "reason": F("str", required=False, nullable=True, max_len=200),
    },
}
KINDS = ("vehicle", "camera", "facility", "site")


def spec_for(kind: str, channel: str) -> dict[str, F] | None:
    """Return the fields of the message a topic's kind and channel carry, or None."""
    if channel == "status":
        return SPEC["status"] if kind in KINDS else None
    return SPEC.get(f"{kind}/{channel}")


class Pairs(list[tuple[str, Any]]):
    """A JSON object as the list of its members, repeats kept."""


def parse(payload: bytes) -> Any:
    """Parse JSON keeping every member of every object; raise ValueError if it is not JSON we read."""
    value = json.loads(payload.decode("utf-8"), object_pairs_hook=Pairs)
    if depth(value) > JSON_MAX_DEPTH or not all_unicode(value):
        raise ValueError("too deep, or a lone surrogate")
    return value


def depth(value: Any) -> int:
    """Return the nesting depth of a JSON value (a scalar is 1)."""
    children = [v for _, v in value] if isinstance(value, Pairs) else value if isinstance(value, list) else []
    return 1 + max((depth(c) for c in children), default=0)


def all_unicode(value: Any) -> bool:
    """Tell whether every string (keys too) is encodable as UTF-8, i.e. holds no lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, Pairs):
        return all(all_unicode(k) and all_unicode(v) for k, v in value)
    return all(all_unicode(v) for v in value) if isinstance(value, list) else True


def repeats(value: Any) -> bool:
    """Tell whether some object, at any depth, names a key twice."""
    if isinstance(value, Pairs):
        keys = [k for k, _ in value]
        return len(keys) != len(set(keys)) or any(repeats(v) for _, v in value)
    return any(repeats(v) for v in value) if isinstance(value, list) else False


def field_ok(f: F, v: Any) -> bool:
    """Tell whether a JSON value is what the field takes."""
    if v is None:
        return f.nullable
    checks = {
        "one": lambda: type(v) is int and v == 1,
        "int": lambda: type(v) is int and in_range(f, v),
        "num": lambda: type(v) in (int, float) and in_range(f, as_float(v)),
        "bool": lambda: type(v) is bool,
        "str": lambda: type(v) is str and text_ok(f, v),
        "enum": lambda: type(v) is str and v in f.choices,
    }
    return checks[f.type]()


def as_float(v: float) -> float:
    """Return a number as the float a float field holds (NaN if it has none)."""
    try:
        return float(v)
    except OverflowError:
        return math.nan


def in_range(f: F, v: float) -> bool:
    """Tell whether a number is finite and within the field's bounds."""
    if not math.isfinite(v):
        return False
    above = f.lo is None or v >= f.lo
    below = f.hi is None or (v < f.hi if f.hi_open else v <= f.hi)
    return above and below


def text_ok(f: F, v: str) -> bool:
    """Tell whether a string has the field's length and pattern."""
    fits = f.min_len <= len(v) and (f.max_len is None or len(v) <= f.max_len)
    return fits and (f.pattern is None or f.pattern.fullmatch(v) is not None)


@dataclass(frozen=True)
class Verdict:
    """The reason the contract gives, and the decoded body when it is an object."""

    reason: str
    body: Mapping[str, Any] = field(default_factory=dict)


def expected(topic: str, payload: bytes, now_ms: int, kinds: Mapping[str, str]) -> Verdict:
    """Return what ingest must make of a message, checks in the README's order."""
    if len(payload) > MAX_PAYLOAD:
        return Verdict("oversize")
    parts = topic.split("/")
    spec = spec_for(parts[2], parts[4]) if len(parts) == 5 and parts[:2] == ["citywatch", "v1"] and all(parts) else None
    if spec is None:
        return Verdict("unknown_topic")
    kind, device = parts[2], parts[3]
    if device not in kinds:
        return Verdict("unknown_device")
    if kinds[device] != kind:
        return Verdict("wrong_kind")
    try:
        value = parse(payload)
    except ValueError:
        return Verdict("not_json")
    if repeats(value):
        return Verdict("duplicate_key")
    return _judge_object(value, spec, device, now_ms)


def _judge_object(value: Any, spec: dict[str, F], device: str, now_ms: int) -> Verdict:
    """Judge the fields of a parsed payload without repeated keys."""
    if not isinstance(value, Pairs):
        return Verdict("schema")
    body = dict(value)
    ts = body.get("ts_ms")
    if type(ts) is int and ts >= MIN_TS_MS and ts > now_ms + SKEW_MS:
        return Verdict("future_timestamp", body)  # reported even beside other problems
    unknown = set(body) - set(spec)
    missing = {k for k, f in spec.items() if f.required and k not in body}
    wrong = {k for k, v in body.items() if k in spec and not field_ok(spec[k], v)}
    if unknown or missing or wrong:
        return Verdict("schema", body)
    return Verdict("accepted" if body["device_id"] == device else "topic_mismatch", body)
