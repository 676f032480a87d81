"""Every error the tickets API answers has a stable code and a Chinese message, and keeps its English detail.

The table (``tickets.messages.MESSAGES``) is checked as data; every code the package raises is in it;
every ``raise HTTPException`` in tickets/ has a status the table gives a code; and representative
calls over real uvicorn (no token, wrong role, unknown case, refused transition, bad body) answer
``code`` and ``message_zh`` beside the ``detail`` the older tests read.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devices.city_edit import CityEditor
from devices.inventory import load_city
from rules.alerts import Phase
from tests.e2e.harness import REPO
from tests.tickets import test_api
from tests.tickets import test_city_api as city
from tests.tickets.conftest import Clock, served
from tests.tickets.test_api import PEOPLE, TOKENS, as_, routed_unit
from tests.tickets.test_store import T, make_alert
from tickets import city_api, messages
from tickets.auth import IssuedToken, TokenBook
from tickets.errors import Forbidden, IllegalTransition, StaleCase, TicketError
from tickets.guards import MAX_BODY_BYTES
from tickets.lifecycle import Action, Actor, Role
from tickets.live import LiveView
from tickets.service import TicketService
from tickets.store import TicketStore

store = test_api.store  # the store that routes by the demo city's inventory, as test_api's cases do

TICKETS = REPO / "tickets"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORD = re.compile(r"\b(?!(?:HTTP|JSON|true|false|muck|garbage)\b)[A-Za-z]{3,}")
QUOTED = re.compile(r"'[^']*'|「[^」]*」")  # values and field names as sent: 'accept', 「extra」


def chinese(text: object) -> bool:
    """Tell whether a message is Chinese: Chinese characters and no English word outside the quoted values."""
    return isinstance(text, str) and bool(CHINESE.search(text)) and not ENGLISH_WORD.search(QUOTED.sub("", text))


def placeholders(template: str) -> set[str]:
    """Return the names a template formats."""
    return {m.group(1) for m in re.finditer(r"\{(\w+)\}", template)}


# --- the table as data ----------------------------------------------------------------------------------------


def test_every_code_has_a_chinese_message() -> None:
    wrong = [code for code, text in messages.MESSAGES.items() if not chinese(re.sub(r"\{\w+\}", "", text))]
    assert wrong == []
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", code) for code in messages.MESSAGES)
    assert all(chinese(re.sub(r"\{\w+\}", "", text)) for text in messages.PROBLEMS.values())


def subclasses(kind: type[TicketError]) -> Iterator[type[TicketError]]:
    for sub in kind.__subclasses__():
        yield sub
        yield from subclasses(sub)


def test_every_fallback_code_is_in_the_table_and_needs_no_parameter() -> None:
    fallbacks = {
        TicketError.code,
        *(kind.code for kind in subclasses(TicketError)),
        *messages.BY_STATUS.values(),
        *city_api.BY_STATUS.values(),
        "city.edit_refused",
        "http.error",
    }
    assert fallbacks <= set(messages.MESSAGES)
    assert [c for c in fallbacks if placeholders(messages.MESSAGES[c]) - {"status"}] == []
    assert set(messages.EFFECT_REFUSALS.values()) | set(messages.LIFT_REFUSALS.values()) <= set(messages.MESSAGES)


def test_a_missing_parameter_gives_a_generic_chinese_message_not_an_error() -> None:
    assert messages.message_zh("case.not_found", {"case": "#7"}) == "案件 #7 不存在。"
    assert messages.message_zh("case.not_found") == messages.MESSAGES["request.refused"]
    assert messages.message_zh("no.such_code") == messages.MESSAGES["request.refused"]


# --- every raise site goes through the table ------------------------------------------------------------------


def calls(path: Path) -> Iterator[ast.Call]:
    yield from (n for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(n, ast.Call))


def name_of(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def codes_passed(call: ast.Call) -> list[ast.expr]:
    """Return the code arguments of a call: code=..., ApiError's and CityEditRefused's third, coded's first."""
    found = [k.value for k in call.keywords if k.arg == "code"]
    if name_of(call) in ("ApiError", "CityEditRefused") and len(call.args) >= 3:
        found.append(call.args[2])
    if name_of(call) == "coded" and call.args:
        found.append(call.args[0])
    if name_of(call) == "refusals" and call.args and isinstance(call.args[0], ast.Dict):  # city_api: status -> code
        found += [v for v in call.args[0].values if v is not None]
    return found


def test_every_code_raised_in_tickets_is_in_the_table() -> None:
    used: set[str] = set()
    for path in sorted(TICKETS.rglob("*.py")):
        for call in calls(path):
            for arg in codes_passed(call):
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    used.add(arg.value)
                else:  # a code from a table: the tables are checked above
                    assert isinstance(arg, ast.Name | ast.Attribute | ast.BoolOp | ast.Call), (path, ast.dump(arg))
    assert used and used <= set(messages.MESSAGES), used - set(messages.MESSAGES)
    assert {"auth.token_required", "matter.unknown", "access.role_refused", "city.permit_exists"} <= used


def test_every_raise_of_an_http_exception_in_tickets_goes_through_the_code_table() -> None:
    raised: list[str] = []
    for path in sorted(TICKETS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            call, where = node.exc, f"{path.relative_to(REPO)}:{node.lineno}"
            if name_of(call) == "HTTPException":  # a bare one: its status must have a code of its own
                status = call.args[0] if call.args else next(k.value for k in call.keywords if k.arg == "status_code")
                assert isinstance(status, ast.Constant) and status.value in messages.BY_STATUS, where
                raised.append(where)
            elif name_of(call) == "ApiError":
                assert len(call.args) >= 3 and isinstance(call.args[2], ast.Constant), where
                raised.append(where)
    assert any("guards.py" in r for r in raised) and sum("api.py" in r for r in raised) >= 2, raised


# --- lifecycle refusals, told by the case as it stands ----------------------------------------------------------


ROW = {"case_id": 7, "case_no": "CW20260302-00007", "stage": "dispatched", "unit": "和平街道城管中队"}


@pytest.mark.parametrize(
    ("exc", "action", "role", "code", "names"),
    [
        (IllegalTransition("cannot close"), Action.CLOSE, Role.SHIFT_LEAD, "case.transition_refused", ["派遣", "结案"]),
        (Forbidden("role intake may not"), Action.HANDLE, Role.INTAKE, "case.role_refused", ["受理员", "专业部门"]),
        (Forbidden("with unit"), Action.HANDLE, Role.UNIT, "case.other_unit", ["和平街道城管中队", "处置反馈"]),
        (IllegalTransition("no unit"), Action.DISPATCH, Role.DISPATCHER, "case.transition_refused", ["派遣"]),
        (IllegalTransition("max"), Action.SUPERVISE, Role.SHIFT_LEAD, "case.supervision_max", ["3 级"]),
        (IllegalTransition("positive"), Action.REQUEST_EXTENSION, Role.UNIT, "case.extension_required", ["申请延期"]),
        (StaleCase("version"), Action.HANDLE, Role.UNIT, "case.stale", []),
    ],
)
def test_a_refusal_is_named_by_the_case_its_stage_and_the_action(
    exc: TicketError, action: Action, role: Role, code: str, names: list[str]
) -> None:
    row = {**ROW, "supervision_level": 3} if action is Action.SUPERVISE else ROW
    told = messages.explain_refusal(exc, row, 7, action, role, max_level=3)
    text = messages.message_zh(told.code, told.params)
    assert told is exc and told.code == code and str(told) == str(exc)  # the English detail stays
    assert chinese(text) and "CW20260302-00007" in text and all(n in text for n in names), text


def test_a_dispatch_refused_for_want_of_a_unit_asks_for_one() -> None:
    row = {**ROW, "stage": "registered", "unit": None}
    told = messages.explain_refusal(IllegalTransition("no unit"), row, 7, Action.DISPATCH, Role.DISPATCHER, 3)
    assert told.code == "case.unit_required" and "派遣单位" in messages.message_zh(told.code, told.params)


def test_a_case_gone_since_is_not_found() -> None:
    told = messages.explain_refusal(StaleCase("changed"), None, 9, Action.ACCEPT, Role.INTAKE, 3)
    assert (told.code, messages.message_zh(told.code, told.params)) == ("case.not_found", "案件 #9 不存在。")


def test_validation_problems_name_the_fields_as_the_console_does() -> None:
    told = [
        messages.problem_zh({"type": "missing", "loc": ("body", "action")}),
        messages.problem_zh({"type": "string_too_long", "loc": ("body", "reason"), "ctx": {"max_length": 500}}),
        messages.problem_zh({"type": "string_pattern_mismatch", "loc": ("body", "extension"), "ctx": {"pattern": "x"}}),
        messages.problem_zh({"type": "int_parsing", "loc": ("path", "case_id")}),
        messages.problem_zh({"type": "enum", "loc": ("body", "action"), "ctx": {"expected": "'accept' or 'void'"}}),
        messages.problem_zh({"type": "literal_error", "loc": ("body", "source"), "ctx": {"expected": "'a', 'b'"}}),
        messages.problem_zh(
            {"type": "too_short", "loc": ("body", "route"), "ctx": {"min_length": 2, "field_type": "List"}}
        ),
        messages.problem_zh(
            {"type": "too_long", "loc": ("body", "note"), "ctx": {"max_length": 9, "field_type": "Value"}}
        ),
        messages.problem_zh({"type": "float_type", "loc": ("body", "route", 3, 0)}),
        messages.problem_zh({"type": "something_new", "loc": ("query", "limit")}),
        messages.problem_zh({"type": "string_too_long", "loc": ("body", "note"), "ctx": {"unexpected": 1}}),
    ]
    assert told == [
        "「操作」为必填项",
        "「原因」最多 500 个字",
        "「延期时长」格式不正确（如 4h 或 1d）",
        "「案件序号」须为整数",
        "「操作」须为以下之一：'accept'、'void'",
        "「来源」须为以下之一：'a'、'b'",
        "「线路」至少 2 项",
        "「处置反馈」最多 9 个字",
        "「线路第 4 项」须为数字",
        "「条数」的值无效",
        "「处置反馈」的值无效",
    ]
    many = [{"type": "missing", "loc": ("body", name)} for name in ("lon", "lat", "description", "matter_code")]
    assert messages.problems_zh(many) == "「经度」为必填项；「纬度」为必填项；「描述」为必填项（共 4 处）"


# --- representative calls over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def client(store: TicketStore, clock: Clock) -> Iterator[httpx.Client]:
    """Serve the API with case 1 (gps-m01, 发现) open, a token per person of tests/tickets/test_api.py."""
    store.apply([make_alert(Phase.OPEN, T, subject="gps-m01")])
    city = load_city(REPO / "cities" / "demo")
    people = {**PEOPLE, "unit": Actor("队员", Role.UNIT, routed_unit(store))}
    book = TokenBook((), [IssuedToken(TOKENS[k], a) for k, a in people.items()])
    with served(TicketService(store, book, LiveView(city), city, clock=clock)) as c:
        yield c


def told(resp: httpx.Response, status: int, code: str) -> dict[str, object]:
    """Check an error answer's status, code and Chinese message; return its body."""
    assert resp.status_code == status, resp.text
    body: dict[str, object] = resp.json()
    assert body["code"] == code and chinese(body["message_zh"]), body
    return body


def test_no_token_is_told_to_log_in_again(client: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token-0123456789"}):
        resp = client.get("/api/cases", headers=headers)
        body = told(resp, 401, "auth.token_required")
        assert body["detail"] == "a valid bearer token is needed" and resp.headers["www-authenticate"] == "Bearer"
        assert "重新登录" in str(body["message_zh"])


def test_a_wrong_role_is_told_who_may(client: httpx.Client) -> None:
    body = told(
        client.post("/api/cases/1/actions", json={"action": "accept"}, headers=as_("screen")),
        403,
        "access.role_refused",
    )
    assert "may not use this route" in str(body["detail"]) and body["error"] == "Forbidden"
    assert str(body["message_zh"]).startswith("「大屏」无权使用此功能（仅限受理员、派遣员、专业部门、监督员、值班长）")
    body = told(
        client.post("/api/cases/1/actions", json={"action": "accept"}, headers=as_("dispatcher")),
        403,
        "case.role_refused",
    )
    assert "may not accept" in str(body["detail"])
    assert (
        body["message_zh"]
        == "「派遣员」不能对「发现」阶段的案件 CW20260302-00001 执行「受理」（可由受理员、值班长执行）。"
    )
    body = told(client.get("/api/alerts", headers=as_("unit")), 403, "access.role_refused")
    assert "专业部门" in str(body["message_zh"])


def test_another_units_case_is_named_by_its_number(client: httpx.Client) -> None:
    body = told(client.get("/api/cases/1", headers=as_("other_unit")), 403, "access.not_own_unit")
    assert "not with your unit" in str(body["detail"]) and "案件 CW20260302-00001 不属于本单位" in str(
        body["message_zh"]
    )


def test_an_unknown_case_is_named(client: httpx.Client) -> None:
    body = told(client.get("/api/cases/99", headers=as_("lead")), 404, "case.not_found")
    assert (body["detail"], body["error"], body["message_zh"]) == ("no case 99", "CaseNotFound", "案件 #99 不存在。")
    body = told(
        client.post("/api/cases/99/actions", json={"action": "accept"}, headers=as_("lead")), 404, "case.not_found"
    )
    assert body["message_zh"] == "案件 #99 不存在。"


def test_a_refused_transition_names_the_case_the_stage_and_the_action(client: httpx.Client) -> None:
    body = told(
        client.post("/api/cases/1/actions", json={"action": "close"}, headers=as_("lead")),
        409,
        "case.transition_refused",
    )
    assert body["error"] == "IllegalTransition" and str(body["detail"]).startswith("cannot close (结案)")
    assert body["message_zh"] == "案件 CW20260302-00001 当前处于「发现」阶段，不能执行「结案」（仅限「核查」阶段）。"
    body = told(
        client.post("/api/cases/1/actions", json={"action": "void"}, headers=as_("intake")), 422, "case.reason_required"
    )
    assert "needs a reason" in str(body["detail"]) and body["error"] == "MissingReason"
    assert body["message_zh"] == "对案件 CW20260302-00001 执行「作废」需要填写原因。"
    stale = {"action": "accept", "expected_version": 7}
    body = told(client.post("/api/cases/1/actions", json=stale, headers=as_("intake")), 409, "case.stale")
    assert body["error"] == "StaleCase" and "CW20260302-00001" in str(body["message_zh"])


def test_supervising_past_the_top_level_says_so(client: httpx.Client, store: TicketStore) -> None:
    top = store.config.policy.max_level
    for _ in range(top):
        resp = client.post("/api/cases/1/actions", json={"action": "supervise", "reason": "催办"}, headers=as_("lead"))
        assert resp.status_code == 200, resp.text
    resp = client.post("/api/cases/1/actions", json={"action": "supervise", "reason": "催办"}, headers=as_("lead"))
    body = told(resp, 409, "case.supervision_max")
    assert f"已是 {top} 级督办" in str(body["message_zh"]) and "督办 level" in str(body["detail"])


def test_a_bad_body_is_told_field_by_field(client: httpx.Client) -> None:
    bad = {"action": "accept", "reason": "x" * 501, "extension": "4 weeks", "extra": 1}
    body = told(client.post("/api/cases/1/actions", json=bad, headers=as_("lead")), 422, "validation.failed")
    items = body["detail"]
    assert isinstance(items, list) and body["error"] == "ValidationError"
    assert [(i["loc"], i["type"]) for i in items] == [
        (["body", "reason"], "too_long"),
        (["body", "extension"], "string_pattern_mismatch"),
        (["body", "extra"], "extra_forbidden"),
    ]
    assert all(set(i) == {"loc", "msg", "type", "message_zh"} and chinese(i["message_zh"]) for i in items)
    assert body["message_zh"] == (
        "填写有误：「原因」最多 500 个字；「延期时长」格式不正确（如 4h 或 1d）；不认识的字段「extra」。"
    )
    body = told(
        client.post("/api/cases/1/actions", json={"action": "fly"}, headers=as_("lead")), 422, "validation.failed"
    )
    assert str(body["message_zh"]).startswith("填写有误：「操作」须为以下之一：'accept'、'register'")
    body = told(client.post("/api/cases/1/actions", json={}, headers=as_("lead")), 422, "validation.failed")
    assert body["message_zh"] == "填写有误：「操作」为必填项。"
    body = told(client.get("/api/cases/abc", headers=as_("lead")), 422, "validation.failed")
    assert body["message_zh"] == "填写有误：「案件序号」须为整数。"
    raw = {**as_("lead"), "Content-Type": "application/json"}
    body = told(client.post("/api/cases/1/actions", content=b"{nope", headers=raw), 422, "validation.failed")
    assert body["message_zh"] == "填写有误：请求内容不是有效的 JSON。"


def test_the_routes_own_refusals_are_told(client: httpx.Client) -> None:
    report = {"matter_code": "99999", "lon": 114.3, "lat": 30.59, "description": "路边暴露垃圾"}
    body = told(client.post("/api/cases", json=report, headers=as_("lead")), 422, "matter.unknown")
    assert str(body["detail"]).startswith("unknown matter code 99999") and "事项代码 99999" in str(body["message_zh"])
    lift = {"company": "江城顺达渣土运输有限公司", "reason": "整改完成"}
    body = told(client.post("/api/companies/lift", json=lift, headers=as_("lead")), 404, "company.not_suspended")
    assert "is not suspended" in str(body["detail"]) and "江城顺达渣土运输有限公司" in str(body["message_zh"])
    text = {**as_("lead"), "Content-Type": "text/plain"}
    body = told(client.post("/api/cases/1/notes", content=b"hello", headers=text), 415, "request.not_json")
    assert str(body["detail"]).startswith("send the body as JSON")
    body = told(client.get("/api/nowhere", headers=as_("lead")), 404, "http.not_found")
    assert body["detail"] == "Not Found"
    told(client.delete("/api/cases/1", headers=as_("lead")), 405, "http.method_not_allowed")


def test_a_body_over_the_limit_is_told_too_large_with_or_without_a_token(client: httpx.Client) -> None:
    big = b'{"action": "accept", "reason": "' + b"x" * MAX_BODY_BYTES + b'"}'
    parts = iter([big[: MAX_BODY_BYTES // 2], big[MAX_BODY_BYTES // 2 :]])  # no Content-Length: read as it comes
    for who, body in ((None, big), ("lead", big), ("lead", parts)):
        headers = {**(as_(who) if who else {}), "Content-Type": "application/json"}
        resp = client.post("/api/cases/1/actions", content=body, headers=headers)
        told(resp, 413, "request.too_large")
        assert resp.json()["detail"] == "Content Too Large" and resp.headers["x-frame-options"] == "DENY"
    assert client.get("/api/cases/1", headers=as_("lead")).json()["stage"] == "discovered"  # nothing was applied


@pytest.fixture
def city_client(city_dir: Path, tmp_path: Path) -> Iterator[httpx.Client]:
    """Serve the city data API on a copy of the minimal test city (as tests/tickets/test_city_api.py does)."""
    store = TicketStore(str(tmp_path / "tickets.sqlite"))
    book = TokenBook([], [IssuedToken(city.TOKENS[k], a) for k, a in city.PEOPLE.items()])
    editor = CityEditor(city_dir, clock=lambda: city.NOW)
    try:
        with served(TicketService(store, book, LiveView(load_city(city_dir)), load_city(city_dir), editor=editor)) as c:
            yield c
    finally:
        store.close()


def test_a_refused_city_change_names_the_permit_or_the_vehicle(city_client: httpx.Client) -> None:
    registrar, reason = city.as_("registrar"), {"reason": "报废"}
    body = told(
        city_client.delete("/api/city/vehicles/M1", params=reason, headers=registrar), 409, "city.vehicle_has_permit"
    )
    assert "standing permit" in str(body["detail"]) and body["message_zh"] == "车辆 M1 仍持有有效准运证，请先吊销。"
    body = told(
        city_client.delete("/api/city/permits/P-X", params=reason, headers=registrar), 404, "city.permit_unknown"
    )
    assert body["error"] == "CityEditError" and body["message_zh"] == "准运证 P-X 不存在。"
    again = {**city.PERMIT, "permit_id": "P-M1"}
    body = told(city_client.post("/api/city/permits", json=again, headers=registrar), 409, "city.permit_exists")
    assert "P-M1" in str(body["message_zh"])
    body = told(
        city_client.post("/api/city/vehicles", json=city.VEHICLE, headers=city.as_("dispatcher")),
        403,
        "access.role_refused",
    )
    assert body["message_zh"] == "「派遣员」无权使用此功能（仅限值班长、数据管理员）。"
