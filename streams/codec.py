"""Encode and decode the records on the Kafka topics (events, alerts) between rooms."""

from __future__ import annotations

import json

from devices.contracts import Message
from ingest.validate import STREAM_OF
from rules.alerts import Alert
from rules.facts import Fact

MODEL_OF: dict[str, type[Message]] = {stream: model for model, stream in STREAM_OF.items()}


def decode_event(stream: str, value: bytes) -> Message:
    """Decode an event that ingest already validated, from its stream's topic."""
    return MODEL_OF[stream].model_validate_json(value)


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
