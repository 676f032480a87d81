"""The HTTP API (real uvicorn on loopback) on both stores: tokens and roles, validation, the case loop, figures, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from devices.inventory import load_city
from rules.alerts import Phase
from tests.e2e.harness import REPO
from tests.tickets.conftest import Clock, served
from tests.tickets.test_store import T, make_alert
from tickets.auth import IssuedToken, TokenBook, token_hash
from tickets.config import TicketConfig, UserConfig
from tickets.lifecycle import Actor, Role
from tickets.live import LiveView
from tickets.service import TicketService
from tickets.store import TicketStore

PEOPLE = {
    "lead": Actor("王敏", Role.SHIFT_LEAD),
    "intake": Actor("李静", Role.INTAKE),
    "dispatcher": Actor("赵强", Role.DISPATCHER),
    "inspector": Actor("陈刚", Role.INSPECTOR),
    "screen": Actor("大屏", Role.SCREEN),
    "other_unit": Actor("别的单位", Role.UNIT, "别的单位"),
}
TOKENS = {k: f"token-{k}-0123456789abcdef" for k in [*PEOPLE, "unit"]}


@pytest.fixture
def store(routed_store: TicketStore) -> TicketStore:
    """Return the store routing by the demo city (tests/tickets/conftest.py)."""
    return routed_store


@pytest.fixture
def client(store: TicketStore, clock: Clock) -> Iterator[httpx.Client]:
    """Serve the API with uvicorn on a loopback port and return an HTTP client for it."""
    city = load_city(REPO / "cities" / "demo")
    unit = Actor("队员", Role.UNIT, routed_unit(store))  # the unit the grid (or the unit table) routes gps-m01 to
    book = TokenBook(
        [UserConfig(name="配置用户", role=Role.SCREEN, token_sha256=token_hash("from-config-token-123"))],
        [IssuedToken(TOKENS[k], a) for k, a in {**PEOPLE, "unit": unit}.items()],
    )
    service = TicketService(store, book, LiveView(city), city, clock=clock)
    with served(service) as c:
        yield c


def routed_unit(store: TicketStore) -> str:
    """Return the unit a case about gps-m01 at the test location is routed to."""
    unit = store.ctx.resolver("gps-m01", "08011", 114.3, 30.6, {}).unit
    assert unit
    return unit


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def act(client: httpx.Client, who: str, action: str, case_id: int = 1, **body: object) -> dict[str, object]:
    resp = client.post(f"/api/cases/{case_id}/actions", json={"action": action, **body}, headers=as_(who))
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_no_token_no_entry_and_no_anonymous_writes(client: httpx.Client, store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T)])
    assert client.get("/api/health").json()["ok"] is True
    for method, path in [
        ("get", "/api/cases"),
        ("get", "/api/cases/1"),
        ("post", "/api/cases/1/actions"),
        ("post", "/api/cases"),
        ("get", "/api/live"),
        ("get", "/api/kpi"),
    ]:
        resp = client.request(method.upper(), path, json={"action": "accept"})
        assert resp.status_code == 401 and resp.headers["www-authenticate"] == "Bearer"
    bad = client.get("/api/cases", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert client.get("/api/me", headers={"Authorization": "Bearer from-config-token-123"}).json()["role"] == "screen"


def test_roles_decide_and_errors_are_clear(client: httpx.Client, store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T)])
    cases = client.get("/api/cases", headers=as_("intake")).json()
    assert cases[0]["allowed_actions"] == ["accept", "void"]
    resp = client.post("/api/cases/1/actions", json={"action": "accept"}, headers=as_("dispatcher"))
    assert resp.status_code == 403 and "may not accept" in resp.json()["detail"]
    resp = client.post("/api/cases/1/actions", json={"action": "accept"}, headers=as_("screen"))
    assert resp.status_code == 403 and "may not use this route" in resp.json()["detail"]
    resp = client.post("/api/cases/1/actions", json={"action": "close"}, headers=as_("lead"))
    assert resp.status_code == 409 and resp.json()["error"] == "IllegalTransition"
    resp = client.post("/api/cases/1/actions", json={"action": "void"}, headers=as_("intake"))
    assert resp.status_code == 422 and "needs a reason" in resp.json()["detail"]
    for body in (
        {"action": "fly"},
        {"action": "accept", "extra": 1},
        {"action": "extend", "extension": "4 weeks"},
        {"action": "accept", "reason": "x" * 501},
    ):
        assert client.post("/api/cases/1/actions", json=body, headers=as_("lead")).status_code == 422
    assert client.get("/api/cases/99", headers=as_("lead")).status_code == 404
    resp = client.post("/api/cases/1/actions", json={"action": "accept", "expected_version": 7}, headers=as_("intake"))
    assert resp.status_code == 409 and resp.json()["error"] == "StaleCase"


def test_the_whole_loop_over_http(client: httpx.Client, store: TicketStore, clock: Clock) -> None:
    store.apply([make_alert(Phase.OPEN, T, subject="gps-m01")])
    case = client.get("/api/cases/1", headers=as_("lead")).json()
    assert case["place"] == "鄂A·D3101" and case["owner"] == "江城顺达渣土运输有限公司"
    unit = routed_unit(store)
    assert case["unit"] == unit
    act(client, "intake", "accept")
    act(client, "lead", "register")
    case = act(client, "dispatcher", "dispatch")
    assert case["stage"] == "dispatched" and case["handle_deadline_ms"] > T
    assert client.get("/api/cases/1", headers=as_("other_unit")).status_code == 403
    assert client.get("/api/cases", headers=as_("other_unit")).json() == []
    act(client, "unit", "request_extension", reason="司机外出", extension="4h")
    case = act(client, "lead", "extend", reason="同意延期")
    assert case["extensions"] == 1
    act(client, "unit", "handle", note="已处罚")
    resp = client.post(
        "/api/cases/1/notes", json={"text": "现场照片", "image_ref": "oss://p/1.jpg"}, headers=as_("inspector")
    )
    assert resp.status_code == 201
    act(client, "inspector", "verify")
    case = act(client, "lead", "close")
    assert case["stage"] == "closed" and case["allowed_actions"] == ["reopen"]
    actions = [a["action"] for a in case["audit"]]  # type: ignore[union-attr]
    assert actions == [
        "discover",
        "accept",
        "register",
        "dispatch",
        "request_extension",
        "extend",
        "handle",
        "evidence",
        "verify",
        "close",
    ]
    kpi = client.get("/api/kpi", headers=as_("screen")).json()
    assert kpi["overall"]["closed_rate"] == 1.0 and kpi["by_unit"][unit]["handled"] == 1
    assert kpi["by_company"]["江城顺达渣土运输有限公司"]["total"] == 1
    scores = client.get("/api/companies", headers=as_("screen")).json()
    assert scores["companies"] == [
        {
            "company": "江城顺达渣土运输有限公司",
            "points": 3,
            "cases": 1,
            "over_threshold": False,
            "suspended": False,
            "suspended_since_ms": None,
        }
    ]


def test_reports_feed_map_and_live(client: httpx.Client, store: TicketStore) -> None:
    resp = client.post(
        "/api/cases",
        json={"matter_code": "06010", "lon": 114.3, "lat": 30.59, "description": "路边暴露垃圾", "source": "hotline"},
        headers=as_("intake"),
    )
    assert resp.status_code == 201 and resp.json() == {"case_id": 1}
    assert (
        client.post(
            "/api/cases", json={"matter_code": "6010", "lon": 200, "lat": 0, "description": ""}, headers=as_("intake")
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/api/cases",
            json={"matter_code": "06010", "lon": 114.3, "lat": 30.59, "description": "x"},
            headers=as_("screen"),
        ).status_code
        == 403
    )
    store.apply([make_alert(Phase.OPEN, T)])
    assert [a["rule"] for a in client.get("/api/alerts", headers=as_("screen")).json()] == ["route_deviation"]
    layers = client.get("/api/map", headers=as_("screen")).json()
    city = load_city(REPO / "cities" / "demo")
    assert len(layers["routes"]) == len(city.permits) and len(layers["facilities"]) == len(city.facilities)
    assert len(layers["grid"]) == len(getattr(city, "grid", []))
    assert set(client.get("/api/live", headers=as_("screen")).json()) == {"now_ms", "vehicles", "facilities", "sites"}
    meta = client.get("/api/meta", headers=as_("screen")).json()
    assert meta["stages"]["dispatched"] == "派遣" and len(meta["transitions"]) == 16


def test_openapi_and_console_are_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/cases", "/api/cases/{case_id}/actions", "/api/kpi"} <= set(spec["paths"])
    assert "ActionIn" in spec["components"]["schemas"]
    page = client.get("/")
    assert page.status_code == 200 and '<meta charset="utf-8">' in page.text and "数字城管" in page.text
    assert client.get("/static/console.js").status_code == 200 and client.get("/docs").status_code == 200


def test_config_users_need_a_unit_and_no_system_tokens() -> None:
    with pytest.raises(ValueError, match="needs a unit"):
        UserConfig(name="x", role=Role.UNIT, token_sha256="0" * 64)
    with pytest.raises(ValueError, match="internal"):
        TicketConfig.model_validate({"users": [{"name": "x", "role": "system", "token_sha256": "0" * 64}]})
