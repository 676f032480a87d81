"""The tickets HTTP API (FastAPI) and the dispatch console it serves.

Every /api route except /api/health needs a bearer token (401 without a valid one); the token's
role decides which routes it may use (``tickets.access``, 403 otherwise) and what it may do
(lifecycle.TRANSITIONS); a handling unit sees and acts on its own unit's cases only, a person
scoped to an org node on its subtree's, a company login reads its own trucks' cases and writes
nothing. Malformed input is a 4xx, never a 5xx (``tickets.guards``). Every error answer keeps its
English ``detail`` and adds a stable ``code`` and a Chinese ``message_zh`` (``tickets.messages``).
OpenAPI at /openapi.json, readable at /docs (served locally: the machines have no internet).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from devices.city_edit import CityEditError
from tickets.access import (
    CASE_ACTORS,
    CITY_WIDE,
    NOTE_WRITERS,
    REPORTERS,
    Scope,
    scope_of,
)
from tickets.config import parse_duration
from tickets.errors import CaseNotFound, Forbidden, TicketError
from tickets.guards import MAX_BODY_BYTES, BodyLimit, SecurityHeaders, StrictJSONRoute, json_only
from tickets.lifecycle import (
    ACTION_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    TRANSITIONS,
    Actor,
    Command,
    Role,
    Stage,
    allowed_actions,
)
from tickets.live import city_map
from tickets.messages import (
    ApiError,
    case_ref,
    explain_lift_refusal,
    explain_refusal,
    install,
    role_names,
    scope_code,
    too_large,
)
from tickets.permits import permit_status
from tickets.records import case_from_row
from tickets.schemas import (
    MAX_ID,
    ActionIn,
    CaseDetailOut,
    CaseOut,
    LiftIn,
    MeOut,
    NoteIn,
    ReportIn,
    ReportOut,
)
from tickets.service import TicketService

STATIC = Path(__file__).resolve().parent / "static"
TRACK_MARGIN_MS = 10 * 60_000
bearer = HTTPBearer(auto_error=False, description="a citywatch ticket token")
api = APIRouter(prefix="/api", route_class=StrictJSONRoute)


def service_of(request: Request) -> TicketService:
    """Return the service the app was built with."""
    svc: TicketService = request.app.state.service
    return svc


def current_actor(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    """Return the actor of the request's bearer token; 401 without a valid one."""
    actor = service_of(request).tokens.actor(creds.credentials if creds else None)
    if actor is None:
        raise ApiError(
            401, "a valid bearer token is needed", "auth.token_required", headers={"WWW-Authenticate": "Bearer"}
        )
    return actor


def role_in(roles: frozenset[Role]) -> Any:
    """Return a dependency that admits the actors of these roles only (403 for the others)."""

    def admit(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in roles:
            allowed = ", ".join(sorted(r.value for r in roles))
            raise Forbidden(
                f"role {actor.role.value} may not use this route (allowed: {allowed})",
                code="access.role_refused",
                role=ROLE_LABELS[actor.role],
                allowed=role_names(roles),
            )
        return actor

    return Depends(admit)


def scope_for(svc: TicketService, actor: Actor) -> Scope:
    """Return the cases an actor may see, by the service's org tree."""
    return scope_of(actor, svc.config.org_tree)


def city_reader(actor: Annotated[Actor, role_in(CITY_WIDE)], request: Request) -> Actor:
    """Admit the command centre's city-wide people only (403 for a person scoped to an org node)."""
    scope = scope_for(service_of(request), actor)
    if not scope.city_wide:
        raise Forbidden(
            f"全市数据仅限全市范围的用户 ({scope.node_name}): this route is for city-wide users only",
            code="access.city_wide_only",
            area=scope.node_name,
        )
    return actor


Who = Annotated[Actor, Depends(current_actor)]  # any valid token; reads are scoped (unit, org node, company)
CityReader = Annotated[Actor, Depends(city_reader)]
CaseActor = Annotated[Actor, role_in(CASE_ACTORS)]
NoteWriter = Annotated[Actor, role_in(NOTE_WRITERS)]
Reporter = Annotated[Actor, role_in(REPORTERS)]
ShiftLead = Annotated[Actor, role_in(frozenset({Role.SHIFT_LEAD}))]
Svc = Annotated[TicketService, Depends(service_of)]
CaseId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="a case id (1 to 2^31-1)")]
JSON_BODY = [Depends(json_only)]


def _with_actions(row: dict[str, Any], actor: Actor) -> dict[str, Any]:
    row["allowed_actions"] = [a.value for a in allowed_actions(case_from_row(row), actor)]
    return row


def _check_scope(row: dict[str, Any] | None, case_id: int, scope: Scope) -> dict[str, Any]:
    if row is None:
        raise CaseNotFound(f"no case {case_id}", code="case.not_found", case=case_ref(None, case_id))
    if why := scope.refusal(row):
        case, code = case_ref(row, case_id), scope_code(scope, row)
        raise Forbidden(why, code=code, case=case, area=scope.node_name)
    return row


def _case_for(svc: TicketService, case_id: int, actor: Actor) -> dict[str, Any]:
    return _with_actions(_check_scope(svc.store.case(case_id), case_id, scope_for(svc, actor)), actor)


def _may_write(svc: TicketService, case_id: int, actor: Actor) -> None:
    _check_scope(svc.store.case_row(case_id), case_id, scope_for(svc, actor))  # the row alone: no history needed


@api.get("/health", tags=["service"], summary="Liveness and store status (no token needed)")
def health(svc: Svc) -> dict[str, Any]:
    """Return ok, the outbox backlog and the automation's tick count."""
    extra = {name: probe() for name, probe in svc.health.items()}
    return {"ok": True, "outbox": svc.store.outbox_counts(), "ticks": svc.ticks, **extra}


@api.get("/me", tags=["service"], response_model=MeOut, summary="Who the token belongs to")
def me(actor: Who, svc: Svc) -> dict[str, Any]:
    """Return the caller's name, role, unit, company and org node."""
    tree = svc.config.org_tree
    return {
        "name": actor.name,
        "role": actor.role.value,
        "role_label": ROLE_LABELS[actor.role],
        "unit": actor.unit,
        "company": actor.company,
        "node": actor.node or tree.root,
        "node_name": tree.name(actor.node),
        "city_wide": actor.role in CITY_WIDE and scope_for(svc, actor).city_wide,
    }


@api.get("/meta", tags=["service"], summary="Stage, action and role labels and the lifecycle table")
def meta(actor: Who, svc: Svc) -> dict[str, Any]:
    """Return the labels and every allowed (action, from stages, to stage, roles)."""
    table = [
        {
            "action": t.action.value,
            "from": sorted(s.value for s in t.sources),
            "to": t.target.value if t.target else None,
            "roles": sorted(r.value for r in t.roles),
            "needs_reason": t.needs_reason,
        }
        for t in TRANSITIONS
    ]
    return {
        "stages": {s.value: v for s, v in STAGE_LABELS.items()},
        "actions": {a.value: v for a, v in ACTION_LABELS.items()},
        "roles": {r.value: v for r, v in ROLE_LABELS.items()},
        "transitions": table,
        "levels": [{"level": lv.level, "name": lv.name, "after": lv.after.label()} for lv in svc.config.levels],
        "now_ms": svc.clock(),
    }


@api.get("/cases", tags=["cases"], response_model=list[CaseOut], summary="The case queue, newest first")
def list_cases(
    actor: Who,
    svc: Svc,
    stage: Stage | None = None,
    open_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Return cases with the actions the caller may take on each (a unit, an org node, a company: their own)."""
    scope = scope_for(svc, actor)
    if scope.sees_nothing:
        return []
    rows = svc.store.cases(stage.value if stage else None, scope, open_only, limit)
    return [_with_actions(r, actor) for r in rows]


@api.get(
    "/cases/{case_id}", tags=["cases"], response_model=CaseDetailOut, summary="A case with its evidence and history"
)
def get_case(case_id: CaseId, actor: Who, svc: Svc) -> dict[str, Any]:
    """Return the case, its evidence timeline, audit trail and alert episodes."""
    return _case_for(svc, case_id, actor)


@api.post(
    "/cases/{case_id}/actions",
    tags=["cases"],
    response_model=CaseDetailOut,
    summary="Act on a case",
    dependencies=JSON_BODY,
)
def act_on_case(case_id: CaseId, body: ActionIn, actor: CaseActor, svc: Svc) -> dict[str, Any]:
    """Apply 受理 / 立案 / 派遣 / ... to a case; 403 for a role that may not, 409 from a wrong stage."""
    _may_write(svc, case_id, actor)
    ext = parse_duration(body.extension) if body.extension else None
    command = Command(body.action, reason=body.reason, unit=body.unit, extension=ext, note=body.note)
    try:
        svc.store.act(case_id, command, actor, expected_version=body.expected_version)
    except TicketError as exc:  # the lifecycle says why in English; the case as it stands now names it in Chinese
        explain_refusal(exc, svc.store.case_row(case_id), case_id, body.action, actor.role, svc.config.policy.max_level)
        raise
    return _case_for(svc, case_id, actor)


@api.post(
    "/cases",
    tags=["cases"],
    response_model=ReportOut,
    status_code=201,
    summary="Report a violation",
    dependencies=JSON_BODY,
)
def report(body: ReportIn, actor: Reporter, svc: Svc) -> dict[str, Any]:
    """Register a violation seen by an inspector or reported on the hotline (joins a nearby open case)."""
    if body.matter_code not in svc.store.ctx.known_matters():
        detail = f"unknown matter code {body.matter_code}: the city's tables do not list it"
        raise ApiError(422, detail, "matter.unknown", matter=body.matter_code)
    _may_report_at(svc, body, actor)
    case_id = svc.store.report(body.matter_code, body.lon, body.lat, body.description, actor, body.source, body.subject)
    return {"case_id": case_id}


def _may_report_at(svc: TicketService, body: ReportIn, actor: Actor) -> None:
    """Refuse a report from a person scoped to an org node when the place lies outside their subtree."""
    routing = svc.store.ctx.resolver(body.subject or "", body.matter_code, body.lon, body.lat, {})
    scope = scope_for(svc, actor)
    if why := scope.place_refusal(svc.config.org_tree.node_for(routing.grid_cell, routing.unit)):
        raise Forbidden(why, code="access.place_outside_area", area=scope.node_name)


@api.post(
    "/cases/{case_id}/notes",
    tags=["cases"],
    status_code=201,
    summary="Add a note or photo to a case",
    dependencies=JSON_BODY,
)
def add_note(case_id: CaseId, body: NoteIn, actor: NoteWriter, svc: Svc) -> dict[str, Any]:
    """Attach a note or photo reference to the case's evidence."""
    _may_write(svc, case_id, actor)
    svc.store.note(case_id, actor, body.text, body.image_ref)
    return {"ok": True}


@api.get("/cases/{case_id}/track", tags=["cases"], summary="The vehicle track around the violation")
def case_track(case_id: CaseId, actor: Who, svc: Svc) -> dict[str, Any]:
    """Return the positions of the case's vehicles from 10 min before discovery to 10 min after the last evidence."""
    row = _case_for(svc, case_id, actor)
    start, end = row["discovered_ms"] - TRACK_MARGIN_MS, row["last_evidence_ms"] + TRACK_MARGIN_MS
    tracks = {d: [[f.ts_ms, f.lon, f.lat, f.speed_kmh] for f in svc.live.track(d, start, end)] for d in row["subjects"]}
    return {"from_ms": start, "to_ms": end, "tracks": {d: t for d, t in tracks.items() if t}}


@api.get("/alerts", tags=["live"], summary="The city-wide alert feed, newest first (not for units)")
def alerts(actor: CityReader, svc: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    """Return the latest alert phases the rules raised."""
    return svc.store.recent_alerts(limit)


@api.get("/live", tags=["live"], summary="Vehicles, stations and sites with their latest state (not for units)")
def live(actor: CityReader, svc: Svc) -> dict[str, Any]:
    """Return the live read model (latest position / fill / dust of every device)."""
    return {"now_ms": svc.clock(), **svc.live.snapshot()}


@api.get("/map", tags=["live"], summary="Static map layers of the city")
def map_layers(actor: Who, svc: Svc) -> dict[str, Any]:
    """Return the city's centre, permit routes, collection rounds, stations, sites and grid."""
    return city_map(svc.city)


@api.get(
    "/kpi",
    tags=["figures"],
    summary="处置率, 按期处置率, 结案率 and stage times, by unit and company (a unit, node, company: its own)",
)
def kpi(actor: Who, svc: Svc, days: Annotated[int, Query(ge=1, le=3660)] = 30) -> dict[str, Any]:
    """Return the KPIs of the cases discovered in the last `days` days that the caller may see."""
    now, scope = svc.clock(), scope_for(svc, actor)
    if scope.sees_nothing:  # TokenBook refuses such tokens; so does the API
        raise Forbidden(
            "此用户无可见案件 (no unit, company or known org node): this token sees no case", code="access.sees_nothing"
        )
    return {
        "days": days,
        "unit": scope.unit,
        "node": actor.node if scope.nodes is not None else None,
        "company": scope.company,
        **svc.store.kpis(now - days * 86_400_000, now, scope),
    }


@api.get("/companies", tags=["figures"], summary="Company violation points and suspensions (退出机制; not for units)")
def companies(actor: CityReader, svc: Svc) -> dict[str, Any]:
    """Return each company's points in the scoring window, and the companies suspended now."""
    s, held = svc.config.scoring, svc.store.suspensions()
    scores = {
        c.company: {"company": c.company, "points": c.points, "cases": c.cases, "over_threshold": c.over_threshold}
        for c in svc.store.company_scores()
    }
    for company in held.keys() - scores.keys():  # suspended, with no points since: still listed
        scores[company] = {"company": company, "points": 0, "cases": 0, "over_threshold": False}
    rows: list[dict[str, Any]] = [
        {
            **row,
            "suspended": row["company"] in held,
            "suspended_since_ms": held[row["company"]]["suspended_ms"] if row["company"] in held else None,
        }
        for row in scores.values()
    ]
    rows.sort(key=lambda r: (not r["suspended"], -r["points"], r["company"]))
    return {"window_days": s.window_days, "suspend_at": s.suspend_at, "companies": rows}


@api.post(
    "/companies/lift",
    tags=["figures"],
    dependencies=JSON_BODY,
    summary="Lift a company's suspension, with a reason (shift lead; audited)",
)
def lift_suspension(body: LiftIn, actor: ShiftLead, svc: Svc) -> dict[str, Any]:
    """End a company's suspension: its trucks may drive again and its points start from zero."""
    try:
        return svc.store.lift_suspension(body.company, actor, body.reason)
    except TicketError as exc:
        explain_lift_refusal(exc, body.company)
        raise


@api.get("/permits", tags=["live"], summary="Transport permits (准运证) and their status today (not for units)")
def permits(actor: CityReader, svc: Svc) -> list[dict[str, Any]]:
    """Return every permit: valid, expired, not yet valid, or suspended with its company."""
    if svc.city is None:
        return []
    return permit_status(svc.city, svc.store.suspensions(), svc.clock())


def create_app(service: TicketService) -> FastAPI:
    """Build the FastAPI app around a ticket service."""
    app = FastAPI(
        title="citywatch tickets",
        version="1.0",
        description="数字城管 case lifecycle: case queue, actions by role, evidence, KPIs, live map feed.",
        docs_url=None,
        redoc_url=None,
    )
    from tickets.city_api import city_api, city_edit_error  # it builds on this module's deps

    app.state.service = service
    app.include_router(api)
    app.include_router(city_api)
    install(app)  # every error answer: English detail, code, Chinese message (tickets.messages)
    app.add_exception_handler(CityEditError, city_edit_error)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES, refuse=too_large)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_api_route("/", lambda: FileResponse(STATIC / "console.html"), include_in_schema=False)
    app.add_api_route("/docs", lambda: FileResponse(STATIC / "docs.html"), include_in_schema=False)
    return app
