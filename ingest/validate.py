"""Validate one MQTT message against the wire contract: accept it or say exactly why not.

The checks run in the order of ``Reason``; the first that fails names the reason: size, topic, the
device (in the city inventory, publishing as its own kind), JSON syntax, repeated keys, the model
(a timestamp too far ahead is ``future_timestamp``, any other model error ``schema``), and last the
body's ``device_id`` against the topic's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from devices.catalog import STREAM_OF, Accepted, DeadLetter
from devices.contracts import TOPIC_ROOT, Message, model_for


class Reason(StrEnum):
    """Why a message went to the dead-letter stream (in the order the checks run)."""

    OVERSIZE = "oversize"
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_DEVICE = "unknown_device"
    WRONG_KIND = "wrong_kind"
    NOT_JSON = "not_json"
    DUPLICATE_KEY = "duplicate_key"
    SCHEMA = "schema"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOPIC_MISMATCH = "topic_mismatch"


@dataclass(frozen=True, slots=True)
class Limits:
    """What ingest accepts: payload size, how far ahead of our clock a timestamp may be, which devices.

    ``kinds`` maps each device id of the city to the topic kind it publishes as (``City.kind_by_device``);
    None skips the inventory check (tools and tests without a city).
    """

    max_payload_bytes: int = 4096
    max_future_skew_ms: int = 300_000
    kinds: Mapping[str, str] | None = field(default=None, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class Rejected(DeadLetter):
    """A message that failed validation: a dead letter whose reason is one of ``Reason``."""

    reason: Reason


def parse_topic(topic: str) -> tuple[str, str, str] | None:
    """Split ``citywatch/v1/{kind}/{device_id}/{channel}``; None if it is not one of ours."""
    prefix = TOPIC_ROOT + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix) :].split("/")
    if len(parts) != 3 or not all(parts):
        return None
    kind, device_id, channel = parts
    return kind, device_id, channel


def validate(topic: str, payload: bytes, now_ms: int, limits: Limits) -> Accepted | Rejected:
    """Validate a message once; ``now_ms`` is the receiver's clock, for future timestamps."""

    def reject(reason: Reason, detail: str) -> Rejected:
        return Rejected(reason, detail, topic, payload, now_ms)

    if len(payload) > limits.max_payload_bytes:
        return reject(Reason.OVERSIZE, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    parsed = parse_topic(topic)
    model = model_for(parsed[0], parsed[2]) if parsed else None
    if parsed is None or model is None:
        return reject(Reason.UNKNOWN_TOPIC, f"no message kind is published on {topic!r}")
    refusal = check_device(parsed[0], parsed[1], limits.kinds)
    if refusal is not None:
        return reject(*refusal)
    try:
        event = model.model_validate_json(payload, context={"latest_ts_ms": now_ms + limits.max_future_skew_ms})
    except ValidationError as exc:
        return reject(*_classify(exc, payload))
    repeated = repeated_keys(payload, event)
    if repeated:
        return reject(Reason.DUPLICATE_KEY, _repeats(repeated))
    if event.device_id != parsed[1]:
        return reject(Reason.TOPIC_MISMATCH, f"body device_id {event.device_id!r} != topic device {parsed[1]!r}")
    return Accepted(event, STREAM_OF[model])


def check_device(kind: str, device_id: str, kinds: Mapping[str, str] | None) -> tuple[Reason, str] | None:
    """Refuse a device the city does not list, or one publishing as another kind than its own."""
    if kinds is None:
        return None
    registered = kinds.get(device_id)
    if registered is None:
        return Reason.UNKNOWN_DEVICE, f"device {device_id!r} (topic kind {kind!r}) is not in the city inventory"
    if registered != kind:
        return Reason.WRONG_KIND, (
            f"device {device_id!r} is a {registered}, not a {kind}: it publishes "
            f"only on {TOPIC_ROOT}/{registered}/{device_id}/..."
        )
    return None


def repeated_keys(payload: bytes, event: Message) -> list[str]:
    """Return the keys an accepted payload repeats (pydantic's JSON parser silently keeps the last).

    The fast path counts: an accepted payload is one flat object of scalars whose keys are all fields
    (unknown ones are refused), so outside its strings it has exactly one comma fewer than members.
    If it has no more commas at all than ``fields set - 1``, no key repeats and no string holds a
    comma; otherwise the standard library's parser looks at the pairs themselves.
    """
    if payload.count(b",") + 1 == len(event.model_fields_set):
        return []
    return duplicate_keys(payload)


def duplicate_keys(payload: bytes) -> list[str]:
    """Return the keys some object of a JSON payload repeats, at any depth (exact; the slow path)."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        repeated.extend(k for k, n in Counter(k for k, _ in items).items() if n > 1)
        return dict(items)

    try:
        json.loads(payload.decode("utf-8"), object_pairs_hook=pairs)
    except (ValueError, RecursionError):  # what this parser cannot read, the model's parser has judged
        return []
    return repeated


def _repeats(keys: list[str]) -> str:
    """Describe repeated keys for the dead-letter record."""
    names = ", ".join(repr(k) for k in dict.fromkeys(keys))
    return f"repeated key(s) {names}: a JSON object may name a field once"


def _classify(exc: ValidationError, payload: bytes) -> tuple[Reason, str]:
    """Name the reason of a validation error and keep pydantic's own description."""
    errors = exc.errors(include_url=False, include_input=False)
    detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in errors)
    if any(e["type"] == "json_invalid" for e in errors):
        return Reason.NOT_JSON, detail
    repeated = duplicate_keys(payload)
    if repeated:
        return Reason.DUPLICATE_KEY, f"{_repeats(repeated)}; {detail}"
    if any("in the future" in e["msg"] for e in errors):
        return Reason.FUTURE_TIMESTAMP, detail
    return Reason.SCHEMA, detail
