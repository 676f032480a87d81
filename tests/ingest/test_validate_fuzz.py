"""Fuzzing the payload validator: arbitrary bytes, arbitrary JSON and near-valid mutations of every kind.

Each case is judged twice, by ``ingest.validate.validate`` and by an independent reading of the
contract (``contract_oracle``); they must agree on the reason. ``validate`` must never raise, must
keep the raw bytes of what it refuses, and what it accepts must round-trip to the same values.
12,000 examples in all.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.catalog import STREAM_OF, Accepted
from ingest.validate import Limits, Rejected, validate
from tests.ingest.contract_oracle import MAX_PAYLOAD, SKEW_MS, F, expected, spec_for

NOW = 1_790_000_000_000
INVENTORY = {
    "gps-m01": "vehicle",
    "gps-g02": "vehicle",
    "cam-01": "camera",
    "cam-02": "camera",
    "fill-s01": "facility",
    "fill-s02": "facility",
    "env-c01": "site",
    "env-bg01": "site",
}
LIMITS = Limits(MAX_PAYLOAD, SKEW_MS, INVENTORY)
CHANNELS = {"vehicle": "telemetry", "camera": "event", "facility": "telemetry", "site": "telemetry"}
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]  # big payloads on purpose
NON_FINITE = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400")

Member = tuple[str, str]  # (key as JSON text, value as JSON text): repeats and raw tokens allowed


@dataclass(frozen=True)
class Case:
    """A message to validate: its topic and members, rendered compact or spaced."""

    topic: str
    members: tuple[Member, ...]
    spaced: bool = False
    intended: str | None = None  # the reason the mutation means to cause, when it is certain

    def payload(self) -> bytes:
        """Render the JSON object (members kept as written, repeats included)."""
        sep, colon = (", ", ": ") if self.spaced else (",", ":")
        return ("{" + sep.join(f"{k}{colon}{v}" for k, v in self.members) + "}").encode()

    @property
    def spec(self) -> dict[str, F]:
        """The fields of the topic's message."""
        _, _, kind, _, channel = self.topic.split("/")
        spec = spec_for(kind, channel)
        assert spec is not None
        return spec


def dump(value: Any, ascii_only: bool = False) -> str:
    """Return a value as JSON text."""
    return json.dumps(value, ensure_ascii=ascii_only)


def topic(kind: str, device: str, status: bool) -> str:
    """Return the topic a device of a kind publishes on."""
    return f"citywatch/v1/{kind}/{device}/{'status' if status else CHANNELS[kind]}"


# --- valid values, wrong types, values out of range ----------------------------------------------------


def text(min_size: int = 0, max_size: int = 24) -> st.SearchStrategy[str]:
    """Return short Unicode strings (no lone surrogates: hypothesis leaves them out)."""
    return st.text(min_size=min_size, max_size=max_size)


def valid_value(f: F) -> st.SearchStrategy[Any]:
    """Return values the field takes."""
    base: dict[str, Callable[[], st.SearchStrategy[Any]]] = {
        "one": lambda: st.just(1),
        "int": lambda: st.integers(int(f.lo or 0), int(f.hi) if f.hi is not None else NOW + SKEW_MS),
        "num": lambda: st.one_of(
            st.floats(f.lo, f.hi, exclude_max=f.hi_open, allow_nan=False, allow_infinity=False),
            st.integers(math.ceil(f.lo or 0), math.floor(f.hi or 0) - (1 if f.hi_open else 0)),
        ),
        "bool": st.booleans,
        "str": lambda: text(f.min_len, min(f.max_len or 24, 24)),
        "enum": lambda: st.sampled_from(f.choices),
    }
    values = base[f.type]()
    return st.one_of(st.none(), values) if f.nullable else values


def wrong_type(f: F) -> st.SearchStrategy[Any]:
    """Return values of another JSON type than the field's (a whole decimal is not an integer)."""
    scalars = {
        "int": st.one_of(st.floats(allow_nan=False, allow_infinity=False), text(), st.booleans()),
        "one": st.one_of(st.just(True), st.just(1.0), st.just("1"), st.sampled_from([0, 2, -1])),
        "num": st.one_of(text(), st.booleans()),
        "bool": st.one_of(st.integers(), st.floats(allow_nan=False), text()),
        "str": st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans()),
        "enum": st.one_of(st.integers(), st.booleans(), text().filter(lambda s: s not in f.choices)),
    }[f.type]
    containers = st.one_of(
        st.lists(st.integers(), max_size=3), st.dictionaries(text(max_size=5), st.integers(), max_size=2)
    )
    return st.one_of(scalars, containers, st.none()) if not f.nullable else st.one_of(scalars, containers)


def out_of_range(f: F) -> st.SearchStrategy[Any] | None:
    """Return values of the field's type outside its bounds (None if it has none to break)."""
    if f.type == "int":
        above = st.integers(min_value=int(f.hi) + 1) if f.hi is not None else st.nothing()
        return st.one_of(st.integers(max_value=int(f.lo or 0) - 1), above)
    if f.type == "num":
        below = st.floats(max_value=f.lo, exclude_max=True, allow_nan=False, allow_infinity=False)
        above = st.floats(min_value=f.hi, exclude_min=not f.hi_open, allow_nan=False, allow_infinity=False)
        return st.one_of(below, above)
    if f.type == "str" and f.max_len is not None:
        return (
            text(f.max_len + 1, f.max_len + 8)
            if f.min_len == 0
            else st.one_of(st.just(""), text(f.max_len + 1, f.max_len + 8))
        )
    if f.pattern is not None:
        return st.one_of(st.just(""), st.sampled_from(["-lead", "has space", "ünïcode", "a/b", "x\n", "a" * 65]))
    return None


# --- valid messages ---------------------------------------------------------------------------------


@st.composite
def valid_case(draw: st.DrawFn) -> Case:
    """Return a valid message of any kind, on its device's topic, optional fields in or out."""
    device = draw(st.sampled_from(sorted(INVENTORY)))
    kind, status = INVENTORY[device], draw(st.booleans())
    t = topic(kind, device, status)
    spec, ascii_only = spec_for(kind, "status" if status else CHANNELS[kind]), draw(st.booleans())
    assert spec is not None
    members = []
    for name, f in spec.items():
        if f.required or draw(st.booleans()):
            value = device if name == "device_id" else draw(valid_value(f))
            members.append((dump(name), dump(value, ascii_only)))
    order = draw(st.permutations(members))
    return Case(t, tuple(order), draw(st.booleans()), intended="accepted")


# --- mutations: each takes a valid case and breaks one thing ----------------------------------------

Mutation = Callable[[st.DrawFn, Case], Case]


def _pick(draw: st.DrawFn, case: Case) -> tuple[int, str, F]:
    i = draw(st.integers(0, len(case.members) - 1))
    name = json.loads(case.members[i][0])
    return i, name, case.spec[name]


def _set(case: Case, i: int, value_text: str, intended: str | None) -> Case:
    members = list(case.members)
    members[i] = (members[i][0], value_text)
    return replace(case, members=tuple(members), intended=intended)


def wrong_types(draw: st.DrawFn, case: Case) -> Case:
    i, _, f = _pick(draw, case)
    return _set(case, i, dump(draw(wrong_type(f))), "schema")


def non_finite(draw: st.DrawFn, case: Case) -> Case:
    nums = [i for i, (k, _) in enumerate(case.members) if case.spec[json.loads(k)].type == "num"]
    if not nums:
        return case
    return _set(case, draw(st.sampled_from(nums)), draw(st.sampled_from(NON_FINITE)), "schema")


def out_of_bounds(draw: st.DrawFn, case: Case) -> Case:
    i, _, f = _pick(draw, case)
    values = out_of_range(f)
    if values is None:  # a field without bounds to break (enum, bool, the version): the case stays valid
        return case
    return _set(case, i, dump(draw(values)), "schema")


def future_timestamp(draw: st.DrawFn, case: Case) -> Case:
    i = next(i for i, (k, _) in enumerate(case.members) if json.loads(k) == "ts_ms")
    return _set(case, i, dump(draw(st.integers(NOW + SKEW_MS + 1, NOW + 10**12))), "future_timestamp")


def duplicate_key(draw: st.DrawFn, case: Case) -> Case:
    i, name, f = _pick(draw, case)
    value = draw(st.one_of(st.just(case.members[i][1]), valid_value(f).map(dump), wrong_type(f).map(dump)))
    key = dump(name)
    if draw(st.booleans()):  # the same key spelt with an escape: it decodes to the same name
        at = draw(st.integers(0, len(name) - 1))
        key = '"' + name[:at] + f"\\u{ord(name[at]):04x}" + name[at + 1 :] + '"'
    members = list(case.members)
    members.insert(draw(st.integers(0, len(members))), (key, value))
    return replace(case, members=tuple(members), intended="duplicate_key")


def unknown_field(draw: st.DrawFn, case: Case) -> Case:
    name = draw(text(1, 12).filter(lambda k: k not in case.spec))
    members = (*case.members, (dump(name), dump(draw(st.integers() | text() | st.none()))))
    return replace(case, members=members, intended="schema")


def missing_field(draw: st.DrawFn, case: Case) -> Case:
    required = [i for i, (k, _) in enumerate(case.members) if case.spec[json.loads(k)].required]
    i = draw(st.sampled_from(required))
    return replace(case, members=case.members[:i] + case.members[i + 1 :], intended="schema")


def oversize(draw: st.DrawFn, case: Case) -> Case:
    pad = " " * (MAX_PAYLOAD + 1 - len(case.payload()) + draw(st.integers(0, 50)))
    return _set(case, 0, case.members[0][1] + pad, "oversize")


def deep_nesting(draw: st.DrawFn, case: Case) -> Case:
    i, _, _ = _pick(draw, case)
    n = draw(st.integers(1, 400))
    return _set(case, i, "[" * n + case.members[i][1] + "]" * n, None)  # schema, or not_json past the parser's depth


def unknown_device(draw: st.DrawFn, case: Case) -> Case:
    device = draw(st.from_regex(r"[a-z][a-z0-9-]{2,12}", fullmatch=True).filter(lambda d: d not in INVENTORY))
    _, _, kind, _, channel = case.topic.split("/")
    members = tuple((k, dump(device) if json.loads(k) == "device_id" else v) for k, v in case.members)
    return replace(case, topic=f"citywatch/v1/{kind}/{device}/{channel}", members=members, intended="unknown_device")


def wrong_kind(draw: st.DrawFn, case: Case) -> Case:
    _, _, kind, device, channel = case.topic.split("/")
    other = draw(st.sampled_from([k for k in CHANNELS if k != kind]))
    new_channel = "status" if channel == "status" else CHANNELS[other]
    return replace(case, topic=f"citywatch/v1/{other}/{device}/{new_channel}", intended="wrong_kind")


def topic_mismatch(draw: st.DrawFn, case: Case) -> Case:
    _, _, kind, device, _ = case.topic.split("/")
    others = [d for d, k in INVENTORY.items() if k == kind and d != device]
    other = draw(st.sampled_from(others))
    members = tuple((k, dump(other) if json.loads(k) == "device_id" else v) for k, v in case.members)
    return replace(case, members=members, intended="topic_mismatch")


def unknown_topic(draw: st.DrawFn, case: Case) -> Case:
    _, _, kind, device, channel = case.topic.split("/")
    bad = draw(
        st.sampled_from(
            [
                f"citywatch/v2/{kind}/{device}/{channel}",
                f"citywatch/v1/{kind}/{device}",
                f"citywatch/v1/{kind}/{device}/{channel}/x",
                f"citywatch/v1/tractor/{device}/{channel}",
                f"citywatch/v1/{kind}//{channel}",
                f"citywatch/v1/{kind}/{device}/video",
                "other",
            ]
        )
    )
    return replace(case, topic=bad, intended="unknown_topic")


MUTATIONS: list[Mutation] = [
    wrong_types,
    non_finite,
    out_of_bounds,
    future_timestamp,
    duplicate_key,
    unknown_field,
    missing_field,
    oversize,
    deep_nesting,
    unknown_device,
    wrong_kind,
    topic_mismatch,
    unknown_topic,
]


# --- the properties -----------------------------------------------------------------------------------


def check(topic_: str, payload: bytes, intended: str | None = None) -> str:
    """Validate; assert it agrees with the oracle, keeps refused bytes and round-trips accepted ones."""
    result = validate(topic_, payload, NOW, LIMITS)  # must not raise, whatever the input
    verdict = expected(topic_, payload, NOW, INVENTORY)
    if intended is not None:
        assert verdict.reason == intended, (verdict.reason, intended, topic_, payload)
    if isinstance(result, Rejected):
        assert result.reason.value == verdict.reason, (result, verdict.reason)
        record = result.to_record()
        assert base64.b64decode(record["payload_b64"]) == payload and record["topic"] == topic_
        json.dumps(record)
        return result.reason.value
    assert isinstance(result, Accepted) and verdict.reason == "accepted", (result, verdict.reason, payload)
    assert_round_trip(topic_, result, verdict.body)
    return "accepted"


def assert_round_trip(topic_: str, result: Accepted, body: dict[str, Any]) -> None:
    """The event carries exactly the sent values, for the topic's device and kind, and revalidates."""
    event = result.event
    _, _, kind, device, channel = topic_.split("/")
    assert event.device_id == device and INVENTORY[device] == kind and result.stream == STREAM_OF[type(event)]
    assert channel == event.channel and (event.kind in (kind, "any"))
    out = json.loads(event.model_dump_json())
    for name, value in body.items():
        got = out[name]
        assert (float(value) == got) if isinstance(got, float) else (value == got and type(value) is type(got)), name
    assert type(event).model_validate_json(event.model_dump_json()) == event


@settings(max_examples=6000, deadline=None, suppress_health_check=SLOW)
@given(st.data())
def test_near_valid_mutations_get_the_contracts_reason(data: st.DataObject) -> None:
    case = data.draw(valid_case())
    mutate = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    case = mutate(data.draw, case)
    check(case.topic, case.payload(), case.intended)


@settings(max_examples=1500, deadline=None, suppress_health_check=SLOW)
@given(valid_case())
def test_valid_messages_are_accepted_and_round_trip(case: Case) -> None:
    assert check(case.topic, case.payload(), "accepted") == "accepted"


@settings(max_examples=1000, deadline=None, suppress_health_check=SLOW)
@given(valid_case(), st.data())
def test_byte_edits_of_valid_messages(case: Case, data: st.DataObject) -> None:
    payload = bytearray(case.payload())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(payload)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.sampled_from(list(b'",:{}[]\\ 0e.-"nNtfu')) | st.integers(0, 255))
        if op == "insert":
            payload.insert(at, byte)
        elif at < len(payload):
            payload[at : at + 1] = b"" if op == "delete" else bytes([byte])
    check(case.topic, bytes(payload))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(
    sorted({k for spec in (spec_for(k, c) for k, c in [*CHANNELS.items(), ("site", "status")]) for k in spec or {}})
)


@settings(max_examples=2000, deadline=None, suppress_health_check=SLOW)
@given(
    st.sampled_from(sorted(INVENTORY)),
    st.booleans(),
    st.dictionaries(field_names | st.text(max_size=10), json_values, max_size=12) | json_values,
)
def test_arbitrary_json_gets_the_contracts_reason(device: str, status: bool, value: Any) -> None:
    check(topic(INVENTORY[device], device, status), json.dumps(value).encode())


@settings(max_examples=1500, deadline=None, suppress_health_check=SLOW)
@given(st.sampled_from(sorted(INVENTORY)), st.booleans(), st.binary(max_size=MAX_PAYLOAD + 64))
def test_arbitrary_bytes_get_the_contracts_reason(device: str, status: bool, payload: bytes) -> None:
    check(topic(INVENTORY[device], device, status), payload)
