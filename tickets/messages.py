"""What the API's error answers say: a stable ``code`` and a Chinese ``message_zh`` beside the English ``detail``.

Every error the tickets API answers is ``{"detail", "code", "message_zh"}`` (plus ``"error"``, the
exception's class, where it was before): ``detail`` stays English for the clients and tests that read
it, ``code`` is stable for programs, and ``message_zh`` is what the dispatch console shows, naming the
case, the stage, the action or the field. ``MESSAGES`` is the one table of codes and their Chinese
templates. A raise site passes a code and its parameters (``TicketError(..., code=..., **params)``,
``ApiError``); a refusal raised deeper, where the case is not at hand (the lifecycle, the case book),
is given them by the API (``explain_refusal``); anything else gets its class's or its HTTP status's code.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.utils import is_body_allowed_for_status_code
from starlette.exceptions import HTTPException as StarletteHTTPException

from tickets.access import Scope
from tickets.errors import (
    CaseNotFound,
    Forbidden,
    IllegalTransition,
    MissingReason,
    StaleCase,
    TicketError,
)
from tickets.guards import TOO_LARGE, validation_error
from tickets.lifecycle import ACTION_LABELS, ROLE_LABELS, STAGE_LABELS, TRANSITIONS, Action, Role, Stage

log = structlog.get_logger(__name__)

MESSAGES: dict[str, str] = {
    # the classes' own codes (tickets.errors), for an error raised without a more precise one
    "request.refused": "请求未能完成。",
    "service.misconfigured": "服务配置有误，请联系系统管理员。",
    "service.calendar": "无法按工作日历计算时限，请联系系统管理员。",
    "case.action_refused": "案件当前阶段不能执行该操作。",
    "access.forbidden": "无权执行此操作。",
    "request.reason_missing": "此操作需要填写原因。",
    "case.unknown": "找不到该案件。",
    "case.changed": "案件已被他人更新，请刷新后重试。",
    # who may do what
    "auth.token_required": "登录已失效或令牌无效，请重新登录。",
    "access.role_refused": "「{role}」无权使用此功能（仅限{allowed}）。",
    "access.city_wide_only": "全市数据仅限全市范围的用户查看，您的范围是「{area}」。",
    "access.not_own_unit": "案件 {case} 不属于本单位，无权查看或处理。",
    "access.outside_area": "案件 {case} 不在本辖区（{area}）内，无权查看或处理。",
    "access.not_own_company": "案件 {case} 不是本企业车辆的案件，无权查看。",
    "access.place_outside_area": "该地点不在本辖区（{area}）内，不能在此上报。",
    "access.sees_nothing": "当前账号没有可查看的案件（未关联单位、企业或有效辖区）。",
    # cases and their lifecycle
    "case.not_found": "案件 {case} 不存在。",
    "case.stale": "案件 {case} 已被他人更新，请刷新后重试。",
    "case.transition_refused": "案件 {case} 当前处于「{stage}」阶段，不能执行「{action}」（仅限「{stages}」阶段）。",
    "case.role_refused": "「{role}」不能对「{stage}」阶段的案件 {case} 执行「{action}」（可由{allowed}执行）。",
    "case.other_unit": "案件 {case} 由「{unit}」负责，本单位不能执行「{action}」。",
    "case.reason_required": "对案件 {case} 执行「{action}」需要填写原因。",
    "case.unit_required": "案件 {case} 没有责任单位，执行「派遣」时请填写派遣单位。",
    "case.supervision_max": "案件 {case} 已是 {level} 级督办，不能再升级（最高 {max} 级）。",
    "case.extension_required": "对案件 {case} 执行「{action}」需要有效的延期时长（如 4h 或 1d）。",
    "matter.unknown": "事项代码 {matter} 不在本市的事项表中。",
    "company.not_suspended": "企业「{company}」当前未被暂停，无需解除。",
    "company.reason_required": "解除企业「{company}」的暂停需要填写原因。",
    # city data (tickets.city_api)
    "city.not_editable": "本服务不能修改城市数据（未配置城市目录）。",
    "city.permit_exists": "准运证 {permit} 已存在，请先吊销，再以新编号签发。",
    "city.permit_unknown": "准运证 {permit} 不存在。",
    "city.permit_revoked": "准运证 {permit} 已被吊销。",
    "city.vehicle_unknown": "车辆 {vehicle} 不存在。",
    "city.vehicle_has_permit": "车辆 {vehicle} 仍持有有效准运证，请先吊销。",
    "city.invalid": "修改后的城市数据未通过检查，未保存。",
    "city.edit_refused": "城市数据修改未被接受。",
    "city.edit_failed": "城市数据修改失败，请联系系统管理员。",
    # the request itself
    "validation.failed": "填写有误：{problems}。",
    "request.invalid": "请求有误，请检查后重试。",
    "request.not_json": "请求内容须为 JSON 格式。",
    "request.too_large": "提交的内容过大。",
    "request.too_many": "操作过于频繁，请稍后再试。",
    "http.not_found": "请求的地址不存在。",
    "http.method_not_allowed": "不支持该请求方式。",
    "http.error": "请求未能完成（HTTP {status}）。",
    "service.unavailable": "服务暂时不可用，请稍后再试。",
    "service.internal": "服务内部错误，请稍后再试或联系系统管理员。",
}
BY_STATUS = {  # the code of an HTTP error raised without one (Starlette's 404 / 405, the body guards)
    400: "request.invalid",
    401: "auth.token_required",
    403: "access.forbidden",
    404: "http.not_found",
    405: "http.method_not_allowed",
    409: "case.changed",
    413: "request.too_large",
    415: "request.not_json",
    422: "request.invalid",
    429: "request.too_many",
    500: "service.internal",
    503: "service.unavailable",
}
EFFECT_REFUSALS = {  # an action allowed from the stage, refused by what it needs
    Action.DISPATCH: "case.unit_required",
    Action.SUPERVISE: "case.supervision_max",
    Action.REQUEST_EXTENSION: "case.extension_required",
    Action.EXTEND: "case.extension_required",
}
LIFT_REFUSALS: dict[type[TicketError], str] = {
    CaseNotFound: "company.not_suspended",
    MissingReason: "company.reason_required",
}
LIST = "、"


class ApiError(HTTPException):
    """An HTTP error raised by the API itself, with its message code and parameters."""

    def __init__(
        self, status: int, detail: str, code: str, headers: Mapping[str, str] | None = None, **params: object
    ) -> None:
        super().__init__(status, detail, headers=dict(headers) if headers else None)
        self.code, self.params = code, params


def message_zh(code: str, params: Mapping[str, object] | None = None) -> str:
    """Return the Chinese message of a code with its parameters (a generic one if a parameter is missing)."""
    template = MESSAGES.get(code) or MESSAGES["request.refused"]
    try:
        return template.format_map(dict(params or {}))
    except (KeyError, IndexError, ValueError):
        log.warning("messages.missing_params", code=code, params=sorted(params or {}))
        return MESSAGES["request.refused"]


def error_body(detail: Any, code: str, params: Mapping[str, object] | None = None) -> dict[str, Any]:
    """Return the fields every error answer has: the English detail, the code and the Chinese message."""
    return {"detail": detail, "code": code, "message_zh": message_zh(code, params)}


def status_code_of(status: int) -> str:
    """Return the code of an HTTP error raised without one."""
    return BY_STATUS.get(status, "service.unavailable" if status >= 500 else "http.error")


def case_ref(row: Mapping[str, Any] | None, case_id: int) -> str:
    """Return how a message names a case: its case number (案件编号), else #id."""
    return str(row["case_no"]) if row and row.get("case_no") else f"#{case_id}"


def role_names(roles: Collection[Role]) -> str:
    """Return the Chinese names of roles as one list, in the lifecycle's order (the system left out)."""
    return LIST.join(ROLE_LABELS[r] for r in Role if r in roles and r is not Role.SYSTEM)


def stage_names(action: Action) -> str:
    """Return the Chinese names of the stages an action may be taken from, as one list."""
    return LIST.join(STAGE_LABELS[s] for s in Stage if any(t.action is action and s in t.sources for t in TRANSITIONS))


def scope_code(scope: Scope, row: Mapping[str, Any]) -> str:
    """Return the code of a scope's refusal of a case: the first of its facets (unit, area, company) that refuses."""
    if Scope(by_unit=scope.by_unit, unit=scope.unit).refusal(row):
        return "access.not_own_unit"
    if Scope(nodes=scope.nodes, node_name=scope.node_name).refusal(row):
        return "access.outside_area"
    return "access.not_own_company"


def explain_refusal(
    exc: TicketError, row: Mapping[str, Any] | None, case_id: int, action: Action, role: Role, max_level: int
) -> TicketError:
    """Give a refused action on a case (refused by the lifecycle or the case book) its code and parameters."""
    case = case_ref(row, case_id)
    if row is None or isinstance(exc, CaseNotFound):
        return exc.coded("case.not_found", case=case)
    stage = Stage(row["stage"])
    moves = [t for t in TRANSITIONS if t.action is action and stage in t.sources]
    return exc.coded(
        _refusal_code(exc, action, bool(moves), any(role in t.roles for t in moves)),
        case=case,
        stage=STAGE_LABELS[stage],
        action=ACTION_LABELS[action],
        stages=stage_names(action),
        role=ROLE_LABELS[role],
        allowed=role_names({r for t in moves for r in t.roles}) or "系统自动",
        unit=row.get("unit") or "其他单位",
        level=row.get("supervision_level") or 0,
        max=max_level,
    )


def _refusal_code(exc: TicketError, action: Action, from_stage: bool, role_moves: bool) -> str:
    if isinstance(exc, StaleCase):
        return "case.stale"
    if isinstance(exc, MissingReason):
        return "case.reason_required"
    if isinstance(exc, Forbidden):
        return "case.other_unit" if role_moves else "case.role_refused"
    if isinstance(exc, IllegalTransition):
        return EFFECT_REFUSALS.get(action, "case.transition_refused") if from_stage else "case.transition_refused"
    return exc.code


def explain_lift_refusal(exc: TicketError, company: str) -> TicketError:
    """Give a refused lifting of a company's suspension its code and parameters."""
    return exc.coded(LIFT_REFUSALS.get(type(exc), exc.code), company=company)


# --- validation errors: pydantic's types, told in Chinese with the console's names of the fields ---------------

FIELDS = {
    "action": "操作",
    "reason": "原因",
    "unit": "派遣单位",
    "extension": "延期时长",
    "note": "处置反馈",
    "expected_version": "案件版本",
    "matter_code": "事项代码",
    "lon": "经度",
    "lat": "纬度",
    "description": "描述",
    "source": "来源",
    "subject": "对象",
    "text": "备注",
    "image_ref": "照片",
    "company": "企业",
    "case_id": "案件序号",
    "limit": "条数",
    "days": "天数",
    "stage": "阶段",
    "open_only": "仅在办",
    "permit_id": "准运证编号",
    "vehicle_id": "车辆编号",
    "route": "线路",
    "datum": "坐标系",
    "corridor_m": "走廊宽度（米）",
    "valid_from": "有效期起",
    "valid_to": "有效期止",
    "windows": "通行时段",
    "origin_sites": "出土工地",
    "disposal_sites": "消纳场",
    "plate": "车牌",
    "kind": "车辆类型",
    "terminal_id": "终端编号",
    "jt808_phone": "终端手机号",
    "jt808_model": "终端型号",
}
HINTS = {"extension": "（如 4h 或 1d）", "matter_code": "（5 位数字）", "kind": "（muck 或 garbage）"}
PROBLEMS = {
    "missing": "「{field}」为必填项",
    "extra_forbidden": "不认识的字段「{field}」",
    "string_too_long": "「{field}」最多 {max_length} 个字",
    "string_too_short": "「{field}」至少 {min_length} 个字",
    "too_long": "「{field}」最多 {max_length} 项",
    "too_short": "「{field}」至少 {min_length} 项",
    "string_type": "「{field}」须为文字",
    "string_pattern_mismatch": "「{field}」格式不正确{hint}",
    "finite_number": "「{field}」须为有限的数字",
    "greater_than_equal": "「{field}」不能小于 {ge}",
    "less_than_equal": "「{field}」不能大于 {le}",
    "greater_than": "「{field}」须大于 {gt}",
    "less_than": "「{field}」须小于 {lt}",
    "json_invalid": "请求内容不是有效的 JSON",
    "unprintable": "「{field}」不能含有控制字符",
    **dict.fromkeys(("int_type", "int_parsing", "int_from_float"), "「{field}」须为整数"),
    **dict.fromkeys(("float_type", "float_parsing"), "「{field}」须为数字"),
    **dict.fromkeys(("bool_type", "bool_parsing"), "「{field}」须为 true 或 false"),
    **dict.fromkeys(("enum", "literal_error"), "「{field}」须为以下之一：{expected}"),
    **dict.fromkeys(("model_attributes_type", "dict_type", "model_type"), "「{field}」须为 JSON 对象"),
    **dict.fromkeys(("list_type", "tuple_type"), "「{field}」须为列表"),
    **dict.fromkeys(
        ("date_type", "date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"),
        "「{field}」须为日期（如 2026-12-04）",
    ),
}
INVALID = "「{field}」的值无效"
SOME_PROBLEMS = 3  # a sentence names this many; the items name every one


def field_zh(loc: Sequence[object]) -> str:
    """Return the Chinese name of an input's location: the console's name of its field, and the list item."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "cookie") else list(loc)
    names = [p for p in parts if isinstance(p, str)]
    items = [p for p in parts if isinstance(p, int)]
    if not names:
        return "请求内容"
    name = FIELDS.get(names[0]) or names[0][:40].encode("utf-8", "backslashreplace").decode("utf-8")
    return name + (f"第 {items[0] + 1} 项" if items else "")


def problem_zh(error: Mapping[str, Any]) -> str:
    """Return one pydantic validation error in Chinese (never with the input: it may be huge or unprintable)."""
    kind, loc = str(error.get("type", "")), error.get("loc") or ()
    ctx = {k: _plain(v) for k, v in (error.get("ctx") or {}).items() if k != "error"}
    if kind == "value_error" and "control characters" in str(error.get("msg", "")):
        kind = "unprintable"
    if kind in ("too_long", "too_short") and ctx.get("field_type") == "Value":  # a text with a validator of its own
        kind = f"string_{kind}"
    hint = HINTS.get(next((p for p in reversed(loc) if isinstance(p, str)), ""), "")
    try:
        return PROBLEMS.get(kind, INVALID).format(field=field_zh(loc), hint=hint, **ctx)
    except (KeyError, IndexError, TypeError, ValueError):  # a context this template does not expect
        return INVALID.format(field=field_zh(loc))


def _plain(value: object) -> object:
    """Return a constraint as a message shows it: 'a', 'b' or 'c' as a Chinese list, 90.0 as 90."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value.replace(" or ", LIST).replace(", ", LIST) if isinstance(value, str) else value


def problems_zh(errors: Sequence[Mapping[str, Any]]) -> str:
    """Return the first few distinct problems as one Chinese phrase."""
    found = list(dict.fromkeys(problem_zh(e) for e in errors)) or ["请求内容不符合要求"]
    more = f"（共 {len(found)} 处）" if len(found) > SOME_PROBLEMS else ""
    return "；".join(found[:SOME_PROBLEMS]) + more


# --- the app's exception handlers ------------------------------------------------------------------------------

STATUS = {Forbidden: 403, CaseNotFound: 404, IllegalTransition: 409, StaleCase: 409, MissingReason: 422}


def ticket_error(_: Request, exc: Exception) -> JSONResponse:
    """Answer a tickets error with its class's status, its English text, its code and its Chinese message."""
    err = exc if isinstance(exc, TicketError) else TicketError(str(exc))
    status = next((code for kind, code in STATUS.items() if isinstance(err, kind)), 400)
    body = {**error_body(str(err), err.code, err.params), "error": type(exc).__name__}
    return JSONResponse(body, status_code=status)


def http_error(request: Request, exc: Exception) -> Response:
    """Answer an HTTP error (the API's own, Starlette's 404 and 405, the body guards') with a code and Chinese."""
    if not isinstance(exc, StarletteHTTPException):
        return internal_error(request, exc)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=exc.headers)
    code, params = (exc.code, exc.params) if isinstance(exc, ApiError) else (status_code_of(exc.status_code), {})
    body = error_body(exc.detail, code, {"status": exc.status_code, **params})
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def validation_failed(request: Request, exc: Exception) -> JSONResponse:
    """Answer 422 with the guards' English items (no input echoed), each told in Chinese, and one Chinese sentence."""
    english = json.loads(bytes(validation_error(request, exc).body))
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    items = [{**item, "message_zh": problem_zh(e)} for item, e in zip(english["detail"], errors, strict=True)]
    body = {**error_body(items, "validation.failed", {"problems": problems_zh(errors)}), "error": english["error"]}
    return JSONResponse(body, status_code=422)


def too_large() -> JSONResponse:
    """Answer a request whose body is over the limit: 413 with its code and Chinese message."""
    return JSONResponse(error_body(TOO_LARGE, "request.too_large", {"status": 413}), status_code=413)


def internal_error(_: Request, exc: Exception) -> JSONResponse:
    """Answer an unexpected failure with 500 and a Chinese message (Starlette still logs the exception)."""
    return JSONResponse(error_body("Internal Server Error", "service.internal"), status_code=500)


def install(app: FastAPI) -> None:
    """Make every error the app answers carry a code and a Chinese message."""
    app.add_exception_handler(TicketError, ticket_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(Exception, internal_error)
