"""Encode and decode the records the stream stages pass each other: alerts and facts (events: ``devices.catalog``)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from rules.alerts import Alert
from rules.engine import DeviceState
from rules.facts import Fact


def encode_alert(alert: Alert) -> bytes:
    """Return the alert as JSON bytes for the alerts topic."""
    return json.dumps(alert.to_dict(), ensure_ascii=False, sort_keys=True).encode()


def decode_alert(value: bytes) -> Alert:
    """Decode an alert from the alerts topic."""
    return Alert.from_dict(json.loads(value))


def encode_fact(fact: Fact) -> bytes:
    """Return a fact as JSON bytes for the facts topic."""
    return json.dumps(fact.to_dict(), ensure_ascii=False, sort_keys=True).encode()


def decode_fact(value: bytes) -> Fact:
    """Decode a fact from the facts topic."""
    return Fact.from_dict(json.loads(value))


class Encoded:
    """A table value read from a changelog and not decoded yet (``streams.state_codec``): a worker reads
    every record of its tables' changelogs (restore, standby replicas) but uses only the states of the
    devices its partitions then see, so each is decoded on first use (``decoded``)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw


def decoded(value: Any) -> Any:
    """Return a table value decoded: a state as a ``DeviceState``, another record as its plain JSON value."""
    if not isinstance(value, Encoded):
        return value
    plain = orjson.loads(value.raw)
    return DeviceState.from_dict(plain) if is_state_dict(plain) else plain


def is_state_dict(value: Any) -> bool:
    """Tell a ``DeviceState.to_dict`` from another JSON value."""
    return isinstance(value, dict) and "rules" in value and "last_seq" in value
