"""Who may use which route, on both stores (real uvicorn on loopback).

Every route of the OpenAPI document is walked with no token, wrong tokens and every kind of
caller; ``ACCESS`` says who may use it, and a route missing from the table fails the walk. A
handling unit reads and acts on its own unit's cases only, a district's dispatcher on its district's
(tenancy, tests/tickets/test_hierarchy.py), a company login reads its own trucks' cases and writes
nothing; malformed ids, queries and bodies are answered 4xx, never 5xx.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from devices.contracts import VehiclePosition
from devices.inventory import load_city
from rules.alerts import Phase
from tests.e2e.harness import REPO
from tests.tickets import test_api
from tests.tickets.conftest import Clock, served
from tests.tickets.test_api import PEOPLE, routed_unit
from tests.tickets.test_api import TOKENS as CENTRE_TOKENS
from tests.tickets.test_store import T, make_alert
from tickets.access import scope_of
from tickets.api import api, create_app
from tickets.auth import IssuedToken, TokenBook, parse_tokens
from tickets.city_api import city_api
from tickets.config import TicketConfig
from tickets.errors import Forbidden, TicketConfigError
from tickets.lifecycle import (
    Action,
    Actor,
    Case,
    Command,
    Role,
    Stage,
    allowed_actions,
    transition,
)
from tickets.live import LiveView
from tickets.service import TicketService
from tickets.store import TicketStore

store = test_api.store  # the store that routes by the demo city's inventory, as test_api's cases do

SCOPED = {  # case 1 (gps-m01, 江城顺达's truck) lies in 和平街道, under the west district
    "district": Actor("江城西区派遣员", Role.DISPATCHER, node="west"),
    "other_district": Actor("江城东区派遣员", Role.DISPATCHER, node="east"),
    "company": Actor("江城顺达", Role.COMPANY, company="江城顺达渣土运输有限公司"),
    "other_company": Actor("楚运", Role.COMPANY, company="楚运建筑垃圾清运有限公司"),
}
TOKENS = {**CENTRE_TOKENS, **{k: f"token-{k}-0123456789abcdef" for k in SCOPED}}
EVERYONE = frozenset({"lead", "intake", "dispatcher", "inspector", "screen", "unit", "other_unit", *SCOPED})
CENTRE = frozenset({"lead", "intake", "dispatcher", "inspector", "screen"})
OWN_CASE = CENTRE | {"unit", "district", "company"}  # case routes are walked on case 1: with "unit", in "district"
READ_ONLY = frozenset({"screen", "company"})
PUBLIC = None
ACCESS: dict[tuple[str, str], frozenset[str] | None] = {
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/api/me"): EVERYONE,
    ("GET", "/api/meta"): EVERYONE,
    ("GET", "/api/map"): EVERYONE,
    ("GET", "/api/cases"): EVERYONE,  # a unit's queue holds its own cases only (test below)
    ("GET", "/api/cases/{case_id}"): OWN_CASE,
    ("GET", "/api/cases/{case_id}/track"): OWN_CASE,
    ("POST", "/api/cases/{case_id}/actions"): OWN_CASE - READ_ONLY,
    ("POST", "/api/cases/{case_id}/notes"): OWN_CASE - READ_ONLY,
    ("POST", "/api/cases"): frozenset({"lead", "intake", "inspector"}),
    ("GET", "/api/kpi"): EVERYONE,  # a unit's (district's, company's) KPIs cover its own cases only (test below)
    ("GET", "/api/alerts"): CENTRE,  # city-wide feeds: not for units, companies or node-scoped people
    ("GET", "/api/live"): CENTRE,
    ("GET", "/api/companies"): CENTRE,
    ("POST", "/api/companies/lift"): frozenset({"lead"}),  # 404 in the walk: nobody is suspended
    ("GET", "/api/permits"): CENTRE,
}
CITY_ROUTES = {  # the city data API's: walked by role (registrar, shift lead, others) in tests/tickets/test_city_api.py
    ("GET", "/api/city"),
    ("GET", "/api/city/changes"),
    ("POST", "/api/city/permits"),
    ("DELETE", "/api/city/permits/{permit_id}"),
    ("POST", "/api/city/vehicles"),
    ("DELETE", "/api/city/vehicles/{vehicle_id}"),
}
BODIES = {  # valid bodies; the action is refused as stale (409), so the walk changes no case
    "/api/cases/{case_id}/actions": {"action": "supervise", "reason": "巡查", "expected_version": 999},
    "/api/cases/{case_id}/notes": {"text": "巡查记录"},
    "/api/cases": {"matter_code": "06010", "lon": 114.3, "lat": 30.59, "description": "路边暴露垃圾"},
    "/api/companies/lift": {"company": "江城顺达渣土运输有限公司", "reason": "整改完成"},
}
WRONG_AUTH = [
    {},
    {"Authorization": "Bearer not-a-token-0123456789"},
    {"Authorization": "Bearer"},
    {"Authorization": TOKENS["lead"]},
    {"Authorization": "Basic " + base64.b64encode(b"lead:pw").decode()},
    {"Authorization": "Bearer " + TOKENS["lead"][:-1]},
    {"Authorization": "Bearer " + "x" * 4000},
    {"X-Token": TOKENS["lead"]},
    {"Cookie": f"token={TOKENS['lead']}"},
]
JUNK_IDS = [
    "0",
    "-1",
    "2147483648",
    "9223372036854775807",
    "9223372036854775808",
    "1" * 400,
    "1e3",
    "1.5",
    "abc",
    "%00",
    "%F0%9F%98%80",
    "١",
]
JUNK_QUERY = ["-1", "0", "99999999999999999999", "1e999", "NaN", "abc", "", "%00", "%ED%A0%80", "1" * 5000]
JUNK_VALUES = [
    float("nan"),
    float("inf"),
    -float("inf"),
    True,
    [],
    {},
    [[[["deep"]]]],
    {"$ne": 1},
    "x" * 2000,
    "\x00",
    "\ud800",
    10**30,
]


@pytest.fixture
def service(store: TicketStore, clock: Clock) -> TicketService:
    """Return the service with a token per kind of caller and a live view holding gps-m01's track."""
    city = load_city(REPO / "cities" / "demo")
    people = {**PEOPLE, **SCOPED, "unit": Actor("队员", Role.UNIT, routed_unit(store))}
    live = LiveView(city)
    live.add_all(
        [
            VehiclePosition(
                device_id="gps-m01",
                ts_ms=T + i * 10_000,
                seq=i,
                lon=114.3 + i * 1e-4,
                lat=30.6,
                speed_kmh=30.0,
                heading_deg=90.0,
            )
            for i in range(5)
        ]
    )
    return TicketService(
        store, TokenBook((), [IssuedToken(TOKENS[k], a) for k, a in people.items()]), live, city, clock=clock
    )


@pytest.fixture
def client(service: TicketService) -> Iterator[httpx.Client]:
    """Serve the API with uvicorn on a loopback port; case 1 (gps-m01) is with "unit"."""
    service.store.apply([make_alert(Phase.OPEN, T, subject="gps-m01")])
    with served(service) as c:
        yield c


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def operations(spec: dict[str, object]) -> set[tuple[str, str]]:
    """Return (METHOD, path) of every operation in an OpenAPI document."""
    paths: dict[str, dict[str, object]] = spec["paths"]  # type: ignore[assignment]
    return {(m.upper(), p) for p, item in paths.items() for m in item}


def call(
    client: httpx.Client, method: str, path: str, headers: dict[str, str], case_id: str = "1", body: object = None
) -> httpx.Response:
    url = path.replace("{case_id}", case_id)
    payload = BODIES.get(path) if body is None else body
    if method == "GET":
        return client.get(url, headers=headers)
    headers = {**headers, "Content-Type": "application/json"}
    return client.post(url, content=json.dumps(payload).encode(), headers=headers)


def test_every_route_has_an_entry_in_the_access_table(service: TicketService) -> None:
    app = create_app(service)
    assert operations(app.openapi()) == set(ACCESS) | CITY_ROUTES
    assert {(m, r.path) for r in api.routes if isinstance(r, APIRoute) for m in r.methods} == set(ACCESS)  # none hidden
    assert {(m, r.path) for r in city_api.routes if isinstance(r, APIRoute) for m in r.methods} == CITY_ROUTES
    outside = {r.path for r in app.routes if isinstance(r, Route | Mount)}
    assert outside == {"/", "/docs", "/static", "/openapi.json"}  # the console's files and the API description


def test_every_route_refuses_who_it_must(client: httpx.Client) -> None:
    wrong: list[str] = []
    for (method, path), allowed in ACCESS.items():
        for headers in WRONG_AUTH:
            status = call(client, method, path, headers).status_code
            if status != (200 if allowed is PUBLIC else 401):
                wrong.append(f"{method} {path} with {list(headers)}: {status}")
        for who in EVERYONE:
            resp = call(client, method, path, as_(who))
            may = allowed is PUBLIC or who in allowed
            if (
                (may and resp.status_code in (401, 403))
                or resp.status_code >= 500
                or (not may and resp.status_code != 403)
            ):
                wrong.append(f"{method} {path} as {who}: {resp.status_code} {resp.text[:120]}")
            if not may and resp.status_code == 403:
                assert set(resp.json()) == {"detail", "error", "code", "message_zh"}  # the refusal carries no data
    assert wrong == []


def test_malformed_ids_queries_and_bodies_are_answered_4xx(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    wrong: list[str] = []
    for method, path in sorted(operations(spec)):
        statuses = {
            f"id {j!r}": call(client, method, path, as_("lead"), case_id=j).status_code
            for j in JUNK_IDS
            if "{case_id}" in path
        }
        wrong += [f"{method} {path} {k}: {s}" for k, s in statuses.items() if s not in (404, 422)]
        params = [p["name"] for p in spec["paths"][path][method.lower()].get("parameters", []) if p["in"] == "query"]
        for name in params:
            for junk in JUNK_QUERY:
                status = client.request(
                    method, path.replace("{case_id}", "1") + f"?{name}={junk}", headers=as_("lead")
                ).status_code
                if status >= 500 or status not in (200, 422):
                    wrong.append(f"{method} {path}?{name}={junk[:20]}: {status}")
        if path in BODIES:
            required = required_fields(spec, path)
            wrong += [
                f"{method} {path} {why}: {s}"
                for why, s in junk_bodies(client, path, required).items()
                if s not in (413, 415, 422)
            ]
    assert wrong == []


def required_fields(spec: dict[str, object], path: str) -> list[str]:
    """Return the required fields of a POST route's body schema in an OpenAPI document."""
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]  # type: ignore[index]
    return list(spec["components"]["schemas"][body["$ref"].split("/")[-1]]["required"])  # type: ignore[index]


def junk_bodies(client: httpx.Client, path: str, required: list[str]) -> dict[str, int]:
    """Send malformed bodies to a body-taking route as the shift lead; return each one's status."""
    url, valid, statuses = path.replace("{case_id}", "1"), BODIES[path], {}
    for field in valid:
        for junk in JUNK_VALUES:
            text = json.dumps({**valid, field: junk})  # NaN and Infinity as Python writes them; \ud800 escaped
            statuses[f"{field}={str(junk)[:12]}"] = post(client, url, text.encode())
        if field in required:
            statuses[f"without {field}"] = post(client, url, json.dumps({k: v for k, v in valid.items() if k != field}))
        statuses[f"{field}=1e999"] = post(client, url, json.dumps(valid).replace("}", f', "{field}": 1e999}}'))
    raw = {
        "extra field": json.dumps({**valid, "admin": True}),
        "empty": b"",
        "null": b"null",
        "array": b"[]",
        "not UTF-8": b'{"text": "\xff\xfe"}',
        "truncated": json.dumps(valid)[:-1],
        "BOM": b"\xef\xbb\xbf{}",
        "deep": b"[" * 50_000,
        "huge": json.dumps({**valid, "pad": "x" * 70_000}),
        "digits": b"1" * 5000,
    }
    statuses |= {why: post(client, url, body) for why, body in raw.items()}
    for ctype in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None]:
        statuses[f"content type {ctype}"] = post(client, url, json.dumps(valid), ctype)
    return statuses


def post(client: httpx.Client, url: str, body: str | bytes, ctype: str | None = "application/json") -> int:
    headers = {**as_("lead"), **({"Content-Type": ctype} if ctype else {})}
    return client.post(url, content=body.encode() if isinstance(body, str) else body, headers=headers).status_code


def dispatch_to_other_unit(client: httpx.Client, store: TicketStore) -> int:
    """Open a second case (gps-m02, elsewhere) and dispatch it to the other unit; return its id."""
    store.apply([make_alert(Phase.OPEN, T, subject="gps-m02", lon=114.36)])
    case_id = max(c["case_id"] for c in store.cases())
    for who, body in [
        ("intake", {"action": "accept"}),
        ("lead", {"action": "register"}),
        ("dispatcher", {"action": "dispatch", "unit": "别的单位"}),
    ]:
        assert client.post(f"/api/cases/{case_id}/actions", json=body, headers=as_(who)).status_code == 200
    return case_id


def test_a_unit_reads_and_acts_on_its_own_cases_only(client: httpx.Client, store: TicketStore) -> None:
    mine, theirs = 1, dispatch_to_other_unit(client, store)
    assert (
        client.post(
            f"/api/cases/{theirs}/notes", json={"text": "对方单位的现场照片"}, headers=as_("other_unit")
        ).status_code
        == 201
    )
    for who, own, other in [("unit", mine, theirs), ("other_unit", theirs, mine)]:
        assert [c["case_id"] for c in client.get("/api/cases", headers=as_(who)).json()] == [own]
        for query in ("?stage=discovered", "?stage=dispatched", "?open_only=true", "?limit=1000"):
            assert {c["case_id"] for c in client.get("/api/cases" + query, headers=as_(who)).json()} <= {own}
        assert client.get(f"/api/cases/{own}", headers=as_(who)).status_code == 200
        for method, path, body in [
            ("GET", "", None),
            ("GET", "/track", None),
            ("POST", "/notes", {"text": "x"}),
            ("POST", "/actions", {"action": "handle", "note": "x"}),
            ("POST", "/actions", {"action": "return", "reason": "x"}),
        ]:
            resp = client.request(method, f"/api/cases/{other}{path}", json=body, headers=as_(who))
            assert resp.status_code == 403 and "not with your unit" in resp.json()["detail"], (who, path)
        kpi = client.get("/api/kpi", headers=as_(who)).json()
        unit = client.get("/api/me", headers=as_(who)).json()["unit"]
        assert kpi["unit"] == unit and set(kpi["by_unit"]) == {unit} and kpi["overall"]["total"] == 1
    assert store.case(mine)["evidence_count"] == 1 and store.case(mine)["stage"] == "discovered"  # type: ignore[index]
    assert client.get(f"/api/cases/{mine}/track", headers=as_("unit")).json()["tracks"]["gps-m01"]
    city_kpi = client.get("/api/kpi", headers=as_("screen")).json()
    assert city_kpi["unit"] is None and city_kpi["overall"]["total"] == 2 and len(city_kpi["by_unit"]) == 2


def test_the_centre_reads_every_case(client: httpx.Client, store: TicketStore) -> None:
    theirs = dispatch_to_other_unit(client, store)
    for who in CENTRE:
        assert {c["case_id"] for c in client.get("/api/cases", headers=as_(who)).json()} == {1, theirs}
        assert client.get(f"/api/cases/{theirs}", headers=as_(who)).status_code == 200
    assert client.get("/api/me", headers=as_("screen")).json()["city_wide"] is True
    assert client.get("/api/me", headers=as_("unit")).json()["city_wide"] is False


@pytest.mark.parametrize("unit", [None, "", "   "])
def test_a_unit_token_without_a_unit_is_refused_when_tokens_load(unit: str | None) -> None:
    with pytest.raises(TicketConfigError, match="needs a unit"):
        TokenBook((), [IssuedToken("t" * 20, Actor("无单位", Role.UNIT, unit))])
    with pytest.raises(TicketConfigError, match=r"CITYWATCH_TICKET_TOKENS.*needs a unit"):
        parse_tokens(json.dumps([{"name": "无单位", "role": "unit", "unit": unit, "token": "t" * 20}]))
    with pytest.raises(TicketConfigError, match="system"):
        TokenBook((), [IssuedToken("t" * 20, Actor("系统", Role.SYSTEM))])


def test_a_unit_without_a_unit_may_touch_no_case(config: TicketConfig) -> None:
    nobody = Actor("无单位", Role.UNIT, None)
    case = Case(1, Stage.DISPATCHED, "08011", None, T)  # a case without a unit, too
    assert scope_of(nobody).sees_nothing and scope_of(nobody).refusal({"case_id": 1, "unit": None})
    assert allowed_actions(case, nobody) == []
    with pytest.raises(Forbidden):
        transition(case, Command(Action.HANDLE), nobody, T, config.policy)
    assert scope_of(Actor("王敏", Role.SHIFT_LEAD)).refusal({"case_id": 1, "unit": None}) is None


class UncheckedBook(TokenBook):
    """A token source that skipped the load check: the API must still show a unit-less unit nothing."""

    def actor(self, token: str | None) -> Actor | None:
        return Actor("无单位", Role.UNIT, None) if token == "unchecked-token-0123456789" else None


def test_a_unit_actor_without_a_unit_sees_and_does_nothing(service: TicketService) -> None:
    service.store.apply([make_alert(Phase.OPEN, T, subject="gps-m01")])
    unchecked = TicketService(service.store, UncheckedBook(), service.live, service.city, clock=service.clock)
    headers = {"Authorization": "Bearer unchecked-token-0123456789"}
    with served(unchecked, headers=headers) as c:
        assert c.get("/api/cases").json() == []
        for method, path, body in [
            ("GET", "/api/cases/1", None),
            ("GET", "/api/cases/1/track", None),
            ("POST", "/api/cases/1/notes", {"text": "x"}),
            ("GET", "/api/kpi", None),
            ("POST", "/api/cases/1/actions", {"action": "return", "reason": "x"}),
            ("GET", "/api/alerts", None),
            ("GET", "/api/companies", None),
        ]:
            assert c.request(method, path, json=body).status_code == 403, path


def test_responses_carry_security_headers(client: httpx.Client) -> None:
    for path in ("/", "/docs", "/static/console.js", "/api/health", "/api/cases"):
        headers = client.get(path, headers=as_("lead")).headers
        assert "default-src 'self'" in headers["content-security-policy"], path
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert (headers.get("cache-control") == "no-store") is path.startswith("/api/"), path
