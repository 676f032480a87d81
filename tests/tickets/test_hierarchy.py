"""Tenancy (issue 10, part 5): the org tree as data, cases under their node, and scoped logins.

A district's dispatcher sees and acts on its district's cases only (403 on another district's), a
company login reads its own trucks' cases and can do nothing; both on SQLite and real PostgreSQL,
through the HTTP API (uvicorn on loopback).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect, update

from devices.inventory import City
from rules.alerts import Phase
from tests.tickets.conftest import REPO_CONFIG, Clock, served
from tests.tickets.test_store import T, make_alert
from tickets.access import scope_of
from tickets.auth import (
    IssuedToken,
    TokenBook,
    demo_tokens,
    known_companies,
    parse_tokens,
    token_hash,
)
from tickets.config import TicketConfig, UserConfig, load_config
from tickets.db import alembic_config
from tickets.errors import TicketConfigError
from tickets.lifecycle import Actor, Role
from tickets.live import LiveView
from tickets.org import OrgNode, build_tree
from tickets.schema import cases
from tickets.service import TicketService
from tickets.store import TicketStore

SHUNDA, CHUYUN = "江城顺达渣土运输有限公司", "楚运建筑垃圾清运有限公司"  # gps-m01 / m02, gps-m03 / m04
PEOPLE = {
    "lead": Actor("王敏", Role.SHIFT_LEAD),
    "intake": Actor("李静", Role.INTAKE),
    "west": Actor("江城西区派遣员", Role.DISPATCHER, node="west"),
    "east": Actor("江城东区派遣员", Role.DISPATCHER, node="east"),
    "heping": Actor("和平街道派遣员", Role.DISPATCHER, node="heping"),
    "jiangbin": Actor("江滨街道派遣员", Role.DISPATCHER, node="jiangbin"),
    "west_inspector": Actor("西区监督员", Role.INSPECTOR, node="west"),
    "shunda": Actor("顺达调度", Role.COMPANY, company=SHUNDA),
}
TOKENS = {k: f"token-{k}-0123456789abcdef" for k in PEOPLE}
WEST, EAST, ROOT = 1, 2, 3  # the cases the client fixture opens: 和平街道 (west), 东湖街道 (east), off the grid


@pytest.fixture
def store(routed_store: TicketStore) -> TicketStore:
    """Return the store routing by the demo city (tests/tickets/conftest.py)."""
    return routed_store


@pytest.fixture
def client(store: TicketStore, city: City, clock: Clock) -> Iterator[httpx.Client]:
    """Serve the API with three cases: gps-m01 in the west, gps-m03 in the east, gps-m02 off the grid."""
    store.apply(
        [
            make_alert(Phase.OPEN, T, subject="gps-m01", lon=114.30),
            make_alert(Phase.OPEN, T, subject="gps-m03", lon=114.33),
            make_alert(Phase.OPEN, T, subject="gps-m02", lon=114.36),
        ]
    )
    book = TokenBook(
        (), [IssuedToken(TOKENS[k], a) for k, a in PEOPLE.items()], store.config.org_tree, known_companies(city)
    )
    with served(TicketService(store, book, LiveView(city), city, clock=clock)) as c:
        yield c


def as_(who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def ids(client: httpx.Client, who: str, query: str = "") -> set[int]:
    return {c["case_id"] for c in client.get(f"/api/cases{query}", headers=as_(who)).json()}


def register(client: httpx.Client, case_id: int) -> None:
    for who, action in (("intake", "accept"), ("lead", "register")):
        resp = client.post(f"/api/cases/{case_id}/actions", json={"action": action}, headers=as_(who))
        assert resp.status_code == 200, resp.text


# --- the tree as data ---------------------------------------------------------------------------


def test_the_demo_tree_puts_every_grid_cell_under_a_street(config: TicketConfig, city: City) -> None:
    tree = config.org_tree
    assert tree.root == "jiangcheng" and [n.id for n in tree.nodes_of_kind("district")] == ["west", "east"]
    assert tree.subtree("west") == {"west", "jiangbin", "heping", "xinhe", "nanhu"}
    assert tree.subtree("heping") == {"heping"} and tree.subtree("nowhere") == frozenset()
    assert tree.subtree("jiangcheng") == set(tree.nodes)
    for cell in city.grid:  # the street the cell's code names, and the unit the grid gives it is attached there
        node = tree.nodes[tree.node_for(cell.code, cell.unit)]
        assert node.kind == "street" and cell.unit in node.units and tree.nodes[node.parent or ""].kind == "district"


def test_a_case_without_a_cell_belongs_to_its_units_node_else_the_root(config: TicketConfig) -> None:
    tree = config.org_tree
    assert tree.node_for(None, "和平街道城管中队") == "heping"
    assert tree.node_for(None, "江城示范区环卫所") == "jiangcheng"
    assert tree.node_for(None, "别的单位") == tree.node_for(None, None) == tree.node_for("999", None) == "jiangcheng"
    assert tree.node_for("420111003001001", "和平街道城管中队") == "qiaodong"  # the place wins over the unit


def test_no_tree_is_one_city_node(tmp_path: Path) -> None:
    tree = TicketConfig().org_tree
    assert list(tree.nodes) == [tree.root] and tree.node_for("420106001001001", "x") == tree.root
    assert scope_of(Actor("x", Role.DISPATCHER, node=tree.root), tree).city_wide


def node(id_: str, kind: str, parent: str | None = None, **extra: object) -> dict[str, object]:
    return {"id": id_, "name": id_, "kind": kind, "parent": parent, **extra}


BAD_TREES = [
    ([node("c", "city"), node("c", "district", "c")], "duplicate node id 'c'"),
    ([node("c", "city"), node("d", "district", "x")], "node 'd': unknown parent 'x' \\(known: c, d\\)"),
    ([node("c", "city"), node("a", "district", "b"), node("b", "street", "a")], "cycle: a → b → a"),
    ([node("a", "street", "a")], "cycle: a → a"),
    ([node("c", "city"), node("k", "city")], "exactly one root.*'c', 'k'"),
    (
        [node("c", "city"), node("s", "street", "c"), node("d", "district", "s")],
        "'d' \\(district\\) cannot be under 's' \\(street\\)",
    ),
    ([node("c", "city", units=["u"]), node("d", "district", "c", units=["u"])], "unit 'u' is attached to both"),
    (
        [
            node("c", "city"),
            node("d", "district", "c", grid_prefix="420106"),
            node("s", "street", "d", grid_prefix="420111001"),
        ],
        "'s': grid_prefix '420111001' lies outside .*'420106'",
    ),
    (
        [node("c", "city"), node("d", "district", "c", grid_prefix="42"), node("e", "district", "c", grid_prefix="42")],
        "grid_prefix \\['42'\\] given to more than one node",
    ),
    ([node("c", "city"), node("d", "province", "c")], "kind: Input should be 'city', 'district', 'street' or 'unit'"),
    ([node("c d", "city")], "id: String should match pattern"),
]


@pytest.mark.parametrize(("nodes", "message"), BAD_TREES)
def test_a_bad_tree_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, nodes: list[dict[str, object]], message: str
) -> None:
    path = tmp_path / "tickets.yaml"
    path.write_text(json.dumps({"org": nodes}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TicketConfigError, match=f"{path.name}: 1 problem\\(s\\): org.*{message}"):
        load_config(path)
    if "pattern" not in message and "Input should" not in message:
        with pytest.raises(ValueError, match=message):
            build_tree(OrgNode.model_validate(n) for n in nodes)


@pytest.mark.parametrize(
    ("user", "message"),
    [
        (
            {"role": "dispatcher", "node": "nowhere"},
            "users: '甲': unknown org node 'nowhere' \\(known: jiangcheng, west",
        ),
        ({"role": "company"}, "a company login needs a company"),
        ({"role": "dispatcher", "company": SHUNDA}, "only a company login names one"),
    ],
)
def test_a_user_must_name_a_known_node_and_a_company_only_as_a_company(
    tmp_path: Path, user: dict[str, str], message: str
) -> None:
    data = load_config(REPO_CONFIG).model_dump(mode="json")
    data["users"] = [{"name": "甲", "token_sha256": "0" * 64, **user}]
    path = tmp_path / "tickets.yaml"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(TicketConfigError, match=message):
        load_config(path)


def test_tokens_carry_their_node_and_company_and_are_checked_on_load(config: TicketConfig, city: City) -> None:
    tree, known = config.org_tree, known_companies(city)
    (issued,) = parse_tokens(json.dumps([{"name": "西区", "role": "dispatcher", "node": "west", "token": "t" * 20}]))
    assert issued.actor == Actor("西区", Role.DISPATCHER, node="west")
    users = [UserConfig(name="顺达", role=Role.COMPANY, company=SHUNDA, node="west", token_sha256=token_hash("c" * 20))]
    assert TokenBook(users, [issued], tree, known).actor("c" * 20) == Actor("顺达", Role.COMPANY, None, "west", SHUNDA)
    for actor, message in [
        (Actor("x", Role.DISPATCHER, node="nowhere"), "unknown org node 'nowhere'"),
        (Actor("x", Role.COMPANY, company="无名公司"), "unknown company '无名公司'"),
        (Actor("x", Role.COMPANY), "needs a company"),
        (Actor("x", Role.SCREEN, company=SHUNDA), "only a company login"),
    ]:
        with pytest.raises(TicketConfigError, match=message):
            TokenBook((), [IssuedToken("t" * 20, actor)], tree, known)
    with pytest.raises(TicketConfigError, match=r"CITYWATCH_TICKET_TOKENS.*needs a company"):
        parse_tokens(json.dumps([{"name": "x", "role": "company", "token": "t" * 20}]))


def test_the_demo_prints_a_district_dispatcher_and_a_company_login(config: TicketConfig, city: City) -> None:
    tokens = demo_tokens(["和平街道城管中队"], config.org_tree, [SHUNDA, CHUYUN])
    scoped = [t.actor for t in tokens if t.actor.node or t.actor.company]
    assert scoped == [
        Actor("江城西区派遣员", Role.DISPATCHER, node="west"),
        Actor(SHUNDA, Role.COMPANY, company=SHUNDA),
    ]
    TokenBook((), tokens, config.org_tree, known_companies(city))  # all of them pass the load check
    assert not [t for t in demo_tokens(["u"]) if t.actor.node or t.actor.company]  # no tree, no companies: none


# --- cases under their node ---------------------------------------------------------------------


def test_a_case_gets_the_node_of_its_place(store: TicketStore) -> None:
    store.apply(
        [
            make_alert(Phase.OPEN, T, subject="gps-m01", lon=114.30),
            make_alert(Phase.OPEN, T, subject="gps-m03", lon=114.33),
            make_alert(Phase.OPEN, T, subject="gps-m02", lon=114.36),
        ]
    )
    assert [(c["subject"], c["node"]) for c in store.cases()] == [
        ("gps-m02", "jiangcheng"),
        ("gps-m03", "donghu"),
        ("gps-m01", "heping"),
    ]
    report = store.report("06010", 114.30, 30.6, "路边暴露垃圾", PEOPLE["lead"])
    assert store.case_row(report)["node"] == "heping"  # type: ignore[index]


def test_cases_from_before_the_migration_count_as_the_root(store: TicketStore) -> None:
    store.apply([make_alert(Phase.OPEN, T, subject="gps-m01", lon=114.30)])
    from alembic import command

    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0004")
        assert "node" not in {c["name"] for c in inspect(conn).get_columns("cases")}
        command.upgrade(alembic_config(conn), "head")
    (case,) = store.cases()
    assert case["node"] is None
    tree = store.config.org_tree
    west, lead = scope_of(PEOPLE["west"], tree), scope_of(PEOPLE["lead"], tree)
    assert store.cases(scope=west) == [] and "不在本辖区" in (west.refusal(case) or "")
    assert len(store.cases(scope=lead)) == 1 and lead.refusal(case) is None
    with store.engine.begin() as conn:  # a node the tree no longer lists: the centre still sees it, the west not
        conn.execute(update(cases).values(node="renamed"))
    assert store.cases(scope=west) == [] and len(store.cases(scope=lead)) == 1


# --- scoped logins through the API ----------------------------------------------------------------


def test_a_district_dispatcher_is_refused_another_districts_case(client: httpx.Client, store: TicketStore) -> None:
    register(client, WEST)
    register(client, EAST)
    resp = client.post(f"/api/cases/{EAST}/actions", json={"action": "dispatch"}, headers=as_("west"))
    assert resp.status_code == 403, resp.text
    body = resp.json()
    assert body.pop("message_zh").endswith("不在本辖区（江城西区）内，无权查看或处理。")  # tickets.messages
    assert body == {
        "error": "Forbidden",
        "detail": f"案件 {EAST} 不在本辖区 (江城西区) 内: case {EAST} is outside your area (江城西区)",
        "code": "access.outside_area",
    }
    assert store.case(EAST)["stage"] == "registered"  # type: ignore[index]  # nothing changed
    for method, path, body in [
        ("GET", "", None),
        ("GET", "/track", None),
        ("POST", "/notes", {"text": "x"}),
        ("POST", "/actions", {"action": "supervise", "reason": "x"}),
    ]:
        assert client.request(method, f"/api/cases/{EAST}{path}", json=body, headers=as_("west")).status_code == 403
    dispatched = client.post(f"/api/cases/{WEST}/actions", json={"action": "dispatch"}, headers=as_("west"))
    assert dispatched.status_code == 200 and dispatched.json()["stage"] == "dispatched"
    assert (
        client.post(f"/api/cases/{EAST}/actions", json={"action": "dispatch"}, headers=as_("east")).json()["stage"]
        == "dispatched"
    )


def test_a_scoped_list_shows_its_subtree_only(client: httpx.Client) -> None:
    assert ids(client, "lead") == {WEST, EAST, ROOT}
    assert ids(client, "west") == ids(client, "heping") == {WEST}
    assert ids(client, "east") == {EAST} and ids(client, "jiangbin") == set()
    for query in ("?stage=discovered", "?open_only=true", "?limit=1000", "?stage=closed"):
        assert ids(client, "west", query) <= {WEST}
    assert client.get(f"/api/cases/{ROOT}", headers=as_("west")).status_code == 403  # the root's: the centre's
    assert client.get(f"/api/cases/{WEST}", headers=as_("heping")).json()["allowed_actions"] == []  # not registered
    kpi = client.get("/api/kpi", headers=as_("west")).json()
    assert kpi["node"] == "west" and kpi["overall"]["total"] == 1 and set(kpi["by_unit"]) == {"和平街道城管中队"}
    assert client.get("/api/kpi", headers=as_("lead")).json()["overall"]["total"] == 3


def test_a_scoped_person_is_refused_the_city_wide_routes(client: httpx.Client) -> None:
    me = client.get("/api/me", headers=as_("west")).json()
    assert (me["node"], me["node_name"], me["city_wide"]) == ("west", "江城西区", False)
    lead = client.get("/api/me", headers=as_("lead")).json()
    assert (lead["node"], lead["node_name"], lead["city_wide"]) == ("jiangcheng", "江城示范区", True)
    for path in ("/api/alerts", "/api/live", "/api/companies", "/api/permits"):
        resp = client.get(path, headers=as_("west"))
        assert resp.status_code == 403 and "city-wide users only" in resp.json()["detail"], path
        assert client.get(path, headers=as_("lead")).status_code == 200


def test_a_scoped_inspector_reports_inside_the_area_only(client: httpx.Client, store: TicketStore) -> None:
    body = {"matter_code": "06010", "lat": 30.6, "description": "路边暴露垃圾"}
    far = client.post("/api/cases", json={**body, "lon": 114.33}, headers=as_("west_inspector"))
    assert far.status_code == 403 and "outside your area" in far.json()["detail"]
    near = client.post("/api/cases", json={**body, "lon": 114.30}, headers=as_("west_inspector"))
    assert near.status_code == 201 and store.case_row(near.json()["case_id"])["node"] == "heping"  # type: ignore[index]


def test_a_company_login_reads_its_own_trucks_cases_and_cannot_act(client: httpx.Client, store: TicketStore) -> None:
    register(client, WEST)
    assert ids(client, "shunda") == {WEST, ROOT}  # gps-m01 and gps-m02; gps-m03 is 楚运's
    own = client.get(f"/api/cases/{WEST}", headers=as_("shunda"))
    assert own.status_code == 200 and own.json()["allowed_actions"] == [] and own.json()["audit"]
    assert client.get(f"/api/cases/{WEST}/track", headers=as_("shunda")).status_code == 200
    other = client.get(f"/api/cases/{EAST}", headers=as_("shunda"))
    assert other.status_code == 403 and "not about your company's vehicles" in other.json()["detail"]
    before = store.case(WEST)
    for path, body in [
        (f"/api/cases/{WEST}/actions", {"action": "dispatch"}),
        (f"/api/cases/{WEST}/actions", {"action": "supervise", "reason": "x"}),
        (f"/api/cases/{WEST}/notes", {"text": "已整改"}),
        ("/api/cases", {"matter_code": "06010", "lon": 114.3, "lat": 30.6, "description": "x"}),
        ("/api/companies/lift", {"company": SHUNDA, "reason": "整改完成"}),
    ]:
        resp = client.post(path, json=body, headers=as_("shunda"))
        assert resp.status_code == 403 and "role company may not use this route" in resp.json()["detail"], path
    assert store.case(WEST) == before and len(store.cases()) == 3
    kpi = client.get("/api/kpi", headers=as_("shunda")).json()
    assert kpi["company"] == SHUNDA and kpi["overall"]["total"] == 2 and set(kpi["by_company"]) == {SHUNDA}
    for path in ("/api/alerts", "/api/live", "/api/companies", "/api/permits"):
        assert client.get(path, headers=as_("shunda")).status_code == 403, path
    me = client.get("/api/me", headers=as_("shunda")).json()
    assert (me["role"], me["role_label"], me["company"], me["city_wide"]) == ("company", "企业", SHUNDA, False)
