"""Hypothesis fuzz of the API's request bodies: never a 5xx, and a 2xx only for a valid body.

Real uvicorn on loopback over SQLite in a tmp dir, one server for the module. Each body is
built valid field by field, then maybe broken in one known way (a field out of range, of the
wrong JSON type, NaN / Infinity / 1e999, too long, with a control character or an unpaired
surrogate; a required field missing, an unknown one added; not an object; not UTF-8; the wrong
content type), so the test knows which answers are allowed. Raw bytes and arbitrary JSON trees
are sent too; for those, a 2xx must come with a body the schema accepts. 10,000 cases in all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from devices.inventory import load_city
from rules.alerts import Phase
from tests.e2e.harness import REPO
from tests.tickets.conftest import REPO_CONFIG, Clock, served
from tests.tickets.test_api import PEOPLE, TOKENS
from tests.tickets.test_api_access import ACCESS
from tests.tickets.test_store import T, make_alert
from tickets.auth import IssuedToken, TokenBook
from tickets.config import load_config
from tickets.lifecycle import Action, Actor, Role
from tickets.live import LiveView
from tickets.routing import CityResolver
from tickets.schemas import MAX_ID, ActionIn, NoteIn, ReportIn
from tickets.service import TicketService
from tickets.store import TicketStore

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MATTERS = sorted(load_config(REPO_CONFIG).matters)
OTHER_UNIT = "别的单位"
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "application/vnd.citywatch+json"]
OTHER_TYPES = ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "text/json", None]
PRINTABLE = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")) | st.sampled_from("\t\n\r")
BAD_CHARS = st.sampled_from(["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f", "\ud800", "\udfff"])
RAW_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1" * 5000, "01", "1.", "+1", "0x1F", ".5"]


def text(lo: int, hi: int) -> st.SearchStrategy[str]:
    """Return printable texts of lo..hi characters (long ones repeat a short piece, to stay fast)."""
    short = st.text(PRINTABLE, min_size=max(lo, 0), max_size=min(hi, 12))
    long = st.builds(lambda t, n: (t * n)[:n], st.text(PRINTABLE, min_size=1, max_size=8), st.integers(max(lo, 1), hi))
    return short | long if hi > 12 else short


def too_long(hi: int) -> st.SearchStrategy[str]:
    return st.builds(lambda t, n: (t * n)[:n], st.text(PRINTABLE, min_size=1, max_size=4), st.integers(hi + 1, hi * 3))


def unprintable(hi: int) -> st.SearchStrategy[str]:
    return st.builds(lambda a, c, b: (a + c + b)[: max(hi, 1)], text(0, 6), BAD_CHARS, text(0, 6))


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON_TREES = st.recursive(
    JSON_SCALARS,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
    max_leaves=12,
)
NOT_STRING = (
    st.booleans()
    | st.integers()
    | st.floats()
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=3)
)
NOT_NUMBER = (
    st.booleans()
    | st.text(max_size=8)
    | st.none()
    | st.lists(JSON_SCALARS, max_size=3)
    | st.dictionaries(st.text(max_size=4), JSON_SCALARS, max_size=3)
)


def bad_text(hi: int, required: bool = False) -> st.SearchStrategy[Any]:
    """Return values a text field of at most hi characters refuses."""
    missing = st.none() if required else st.nothing()
    return too_long(hi) | unprintable(hi) | NOT_STRING | missing


def bad_coordinate(limit: float) -> st.SearchStrategy[Any]:
    outside = st.floats(min_value=limit, exclude_min=True) | st.floats(max_value=-limit, exclude_max=True)
    return outside | st.sampled_from([float("nan"), float("inf"), -float("inf")]) | NOT_NUMBER


@dataclass(frozen=True)
class Field:
    """How to fill one body field: required or not, valid values, values the API must refuse."""

    required: bool
    valid: st.SearchStrategy[Any]
    invalid: st.SearchStrategy[Any]


REPORT = {
    "matter_code": Field(
        True,
        st.sampled_from(MATTERS),
        st.from_regex(r"\d{5}", fullmatch=True).filter(lambda c: c not in MATTERS)
        | st.text(max_size=8).filter(lambda c: c not in MATTERS)
        | NOT_STRING
        | st.none(),
    ),
    "lon": Field(True, st.floats(-180, 180) | st.integers(-180, 180), bad_coordinate(180)),
    "lat": Field(True, st.floats(-90, 90) | st.integers(-90, 90), bad_coordinate(90)),
    "description": Field(True, text(1, 1000), bad_text(1000, required=True) | st.just("")),
    "source": Field(
        False,
        st.sampled_from(["inspector", "hotline"]),
        st.text(max_size=10).filter(lambda s: s not in ("inspector", "hotline")) | NOT_STRING | st.none(),
    ),
    "subject": Field(False, st.none() | text(0, 64), bad_text(64)),
}
NOTE = {
    "text": Field(True, text(1, 1000), bad_text(1000, required=True) | st.just("")),
    "image_ref": Field(False, st.none() | text(0, 512), bad_text(512)),
}
ACTION = {
    "action": Field(
        True,
        st.sampled_from([a.value for a in Action]),
        st.text(max_size=12).filter(lambda a: a not in {x.value for x in Action}) | NOT_STRING | st.none(),
    ),
    "reason": Field(False, st.none() | text(0, 500), bad_text(500)),
    "unit": Field(False, st.none() | st.sampled_from([OTHER_UNIT, "江城示范区环卫所"]) | text(0, 128), bad_text(128)),
    "extension": Field(
        False,
        st.none() | st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,2})?[hd]", fullmatch=True),
        st.sampled_from(["4 weeks", "1e9d", "9999d", "-1h", "4H", "1.234h", "h", "", "١h", "4h\n"])
        | st.from_regex(r"\d{4,9}[hd]", fullmatch=True)
        | NOT_STRING,
    ),
    "note": Field(False, st.none() | text(0, 1000), bad_text(1000)),
    "expected_version": Field(
        False,
        st.none() | st.integers(0, 30) | st.integers(0, MAX_ID),
        st.integers(max_value=-1)
        | st.integers(min_value=MAX_ID + 1)
        | st.floats()
        | st.booleans()
        | st.text(max_size=6)
        | st.lists(st.integers(), max_size=2),
    ),
}
ROUTES: dict[str, tuple[str, dict[str, Field], type[BaseModel], set[int]]] = {
    "report": ("/api/cases", REPORT, ReportIn, {201}),
    "note": ("/api/cases/{case_id}/notes", NOTE, NoteIn, {201}),
    "action": ("/api/cases/{case_id}/actions", ACTION, ActionIn, {200, 403, 409, 422}),  # by stage, role, reason
}


@dataclass(frozen=True)
class Request:
    """One generated request and what the test knows about it."""

    who: str
    case_id: int | None
    raw: bytes
    content_type: str | None
    broken: str | None  # how it was broken, or None for a valid body


@st.composite
def bodies(draw: st.DrawFn, fields: dict[str, Field]) -> tuple[Any, str | None]:
    """Draw a body and how it was broken (None: valid)."""
    body = {k: draw(f.valid) for k, f in fields.items() if f.required or draw(st.booleans())}
    how = draw(st.sampled_from(["valid"] * 4 + ["field", "missing", "extra", "not an object"]))
    if how == "field":
        name = draw(st.sampled_from(sorted(fields)))
        body[name] = draw(fields[name].invalid)
        return body, f"{name}={body[name]!r:.40}"
    required = [k for k, f in fields.items() if f.required]
    if how == "missing" and required:
        name = draw(st.sampled_from(required))
        return {k: v for k, v in body.items() if k != name}, f"without {name}"
    if how == "extra":
        name = draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in fields))
        return {**body, name: draw(JSON_SCALARS)}, f"extra {name!r}"
    if how == "not an object":
        return draw(st.lists(JSON_SCALARS, max_size=3) | JSON_SCALARS), "not an object"
    return body, None


@st.composite
def requests(draw: st.DrawFn, route: str) -> Request:
    """Draw a request to one body-taking route: caller, case id, encoded body, content type."""
    path, fields, _, _ = ROUTES[route]
    body, broken = draw(bodies(fields))
    raw = json.dumps(body, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if broken is None and isinstance(body, dict) and draw(st.integers(0, 9)) == 0:  # a number JSON should not carry
        literal = draw(st.sampled_from(RAW_NUMBERS))
        raw, broken = raw[:-1] + f', "{draw(st.sampled_from(sorted(fields)))}": {literal}}}'.encode(), literal
    content_type = draw(st.sampled_from(JSON_TYPES))
    if draw(st.integers(0, 14)) == 0:
        content_type, broken = draw(st.sampled_from(OTHER_TYPES)), broken or "content type"
    if broken is None and content_type is None:
        broken = "content type"
    case_id = draw(st.integers(1, 6) | st.integers(1, MAX_ID) | st.integers()) if "{case_id}" in path else None
    return Request(draw(st.sampled_from(sorted(TOKENS))), case_id, raw, content_type, broken)


class Api:
    """The server under fuzz, its store and an HTTP client."""

    def __init__(self, store: TicketStore, client: httpx.Client, unit: str) -> None:
        self.store, self.client, self.unit = store, client, unit

    def send(self, route: str, r: Request) -> httpx.Response:
        """Send a generated request."""
        path = ROUTES[route][0].replace("{case_id}", str(r.case_id))
        headers = {"Authorization": f"Bearer {TOKENS[r.who]}"}
        if r.content_type:
            headers["Content-Type"] = r.content_type
        return self.client.post(path, content=r.raw, headers=headers)

    def expected(self, route: str, r: Request) -> set[int]:
        """Return the statuses a valid body may get, in the order the API checks: role, id, case, body."""
        path, _, _, ok = ROUTES[route]
        allowed = ACCESS[("POST", path)]
        role = "unit" if r.who == "other_unit" else r.who  # the walk's table is about case 1, with "unit"
        if allowed is not None and role not in allowed:
            return {403}
        if r.case_id is None:
            return ok
        if not 1 <= r.case_id <= MAX_ID:
            return {422}
        row = self.store.case_row(r.case_id)
        if row is None:
            return {404}
        mine = {"unit": self.unit, "other_unit": OTHER_UNIT}.get(r.who, row["unit"])
        return ok if row["unit"] == mine else {403}


@pytest.fixture(scope="module")
def fuzz_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Serve the API over SQLite with six cases: some with "unit", one with the other unit."""
    config, city = load_config(REPO_CONFIG), load_city(REPO / "cities" / "demo")
    clock = Clock(T)
    store = TicketStore(
        str(tmp_path_factory.mktemp("fuzz") / "tickets.sqlite"), config, CityResolver(config, city), clock=clock
    )
    store.apply([make_alert(Phase.OPEN, T, subject=f"gps-m0{i}", lon=114.3 + i * 0.01) for i in range(1, 7)])
    unit = store.case(1)["unit"]  # type: ignore[index]
    people = {**PEOPLE, "unit": Actor("队员", Role.UNIT, unit)}
    service = TicketService(
        store, TokenBook((), [IssuedToken(TOKENS[k], a) for k, a in people.items()]), LiveView(city), city, clock=clock
    )
    with served(service, timeout=30.0) as client:
        api = Api(store, client, unit)
        lead = {"Authorization": f"Bearer {TOKENS['lead']}"}
        for body in ({"action": "accept"}, {"action": "register"}, {"action": "dispatch", "unit": OTHER_UNIT}):
            assert client.post("/api/cases/6/actions", json=body, headers=lead).status_code == 200
        assert store.case(6)["unit"] == OTHER_UNIT  # type: ignore[index]
        yield api
    store.close()


def check(api: Api, route: str, r: Request) -> None:
    """Send one request and check its answer against what the test knows."""
    expected = api.expected(route, r) if r.broken is None else set(range(400, 500))
    resp = api.send(route, r)
    status = resp.status_code
    assert status in expected, (r, status, resp.text)
    if status == 422 and r.broken is None and expected != {422}:
        assert resp.json()["error"] == "MissingReason", resp.text  # the schema accepted it; the lifecycle asks why


@settings(FUZZ, max_examples=3000)
@given(r=requests("report"))
def test_report_bodies(fuzz_api: Api, r: Request) -> None:
    check(fuzz_api, "report", r)


@settings(FUZZ, max_examples=2000)
@given(r=requests("note"))
def test_note_bodies(fuzz_api: Api, r: Request) -> None:
    check(fuzz_api, "note", r)


@settings(FUZZ, max_examples=3500)
@given(r=requests("action"))
def test_action_bodies(fuzz_api: Api, r: Request) -> None:
    check(fuzz_api, "action", r)


def schema_accepts(model: type[BaseModel], raw: bytes) -> bool:
    """Tell whether raw is strict UTF-8 JSON that the route's schema accepts (the oracle for a 2xx)."""

    def no_constants(name: str) -> None:
        raise ValueError(name)

    try:
        model.model_validate(json.loads(raw.decode("utf-8"), parse_constant=no_constants))
    except (ValueError, ValidationError, RecursionError):
        return False
    return True


@settings(FUZZ, max_examples=1500)
@given(
    route=st.sampled_from(sorted(ROUTES)),
    who=st.sampled_from(["lead", "inspector", "unit"]),
    raw=st.binary(max_size=200) | JSON_TREES.map(lambda v: json.dumps(v).encode()),
)
def test_raw_bodies(fuzz_api: Api, route: str, who: str, raw: bytes) -> None:
    resp = fuzz_api.send(route, Request(who, 1, raw, "application/json", None))
    assert resp.status_code < 500, (raw, resp.text)
    if resp.status_code < 300:
        assert schema_accepts(ROUTES[route][2], raw), (raw, resp.status_code)
