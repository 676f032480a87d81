"""Encode and decode the records the stream stages pass each other: alerts and facts (events: ``devices.catalog``)."""

from __future__ import annotations

import json

from rules.alerts import Alert
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
