"""The city data API: issue and revoke permits, add and remove vehicles while the pipeline runs.

Only a registrar (数据管理员) or a shift lead may change the city (403 otherwise); every change
needs a reason (the approval's number, the revocation order) and is audited with who made it, the
entry before and after, and the new city version (``GET /api/city/changes``). The files change
through ``devices.city_edit``, which checks the whole city first; every running process takes the
new version within seconds (``citywatch.live_city``) and judges what follows under it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from devices.city_edit import Change, CityEditError, CityEditor
from devices.datum import Datum, parse_datum
from devices.inventory import load_city
from tickets.access import REGISTRARS
from tickets.api import JSON_BODY, CityReader, Svc, role_in
from tickets.lifecycle import Actor
from tickets.messages import error_body

Registrar = Annotated[Actor, role_in(REGISTRARS)]
Reason = Annotated[str, Query(min_length=2, max_length=200, description="why: the order or approval number")]
Id = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[\w\-·.]+$")]
DatumName = Annotated[Datum, BeforeValidator(lambda v: parse_datum(v) if isinstance(v, str) else v)]
city_api = APIRouter(prefix="/api/city", tags=["city"])
BY_STATUS = {422: "city.invalid", 500: "city.edit_failed", 503: "city.not_editable"}  # the editor's refusals


class CityEditRefused(CityEditError):
    """A change the editor refused, with its message code and parameters (``tickets.messages``)."""

    def __init__(self, message: str, status: int, code: str, **params: object) -> None:
        super().__init__(message, status)
        self.code, self.params = code, params


@contextmanager
def refusals(codes: Mapping[int, str], **params: object) -> Iterator[None]:
    """Give a change the editor refuses the code of its status (``codes``, else ``BY_STATUS``) and these params."""
    try:
        yield
    except CityEditRefused:
        raise
    except CityEditError as exc:
        code = codes.get(exc.status) or BY_STATUS.get(exc.status, "city.edit_refused")
        raise CityEditRefused(str(exc), exc.status, code, **params) from exc


class PermitIn(BaseModel):
    """A permit (准运证) to issue; its route in ``datum`` (WGS-84 unless drawn on a Chinese web map)."""

    model_config = ConfigDict(extra="forbid")

    permit_id: str = Field(min_length=1, max_length=64)
    vehicle_id: str = Field(min_length=1, max_length=64)
    route: list[tuple[float, float]] = Field(min_length=2, max_length=5000)
    datum: DatumName = "WGS-84"
    corridor_m: float = Field(default=50.0, gt=0.0, le=1000.0)
    valid_from: date
    valid_to: date
    windows: list[str] = Field(default_factory=list, max_length=8, description="e.g. 22:00-06:00")
    origin_sites: list[str] = Field(default_factory=list, max_length=50)
    disposal_sites: list[str] = Field(default_factory=list, max_length=50)
    reason: str = Field(min_length=2, max_length=200, description="the approval's number or note")


class VehicleIn(BaseModel):
    """A vehicle to add or replace (same ``vehicle_id``)."""

    model_config = ConfigDict(extra="forbid")

    vehicle_id: str = Field(min_length=1, max_length=64)
    plate: str = Field(min_length=1, max_length=16)
    kind: str = Field(pattern=r"^(muck|garbage)$")
    company: str = Field(min_length=1, max_length=128)
    terminal_id: str = Field(min_length=1, max_length=64)
    jt808_phone: str | None = None
    jt808_model: str | None = None
    reason: str = Field(min_length=2, max_length=200)


def editor_of(request: Request) -> CityEditor:
    """Return the service's city editor (the API refuses changes when it has none)."""
    editor: CityEditor | None = getattr(request.app.state.service, "editor", None)
    if editor is None:
        raise CityEditRefused("this service does not edit the city (no city directory)", 503, "city.not_editable")
    return editor


def who(actor: Actor, reason: str) -> dict[str, str]:
    """Return the audit line's who and why."""
    return {"who": actor.name, "role": actor.role.value, "reason": reason}


def answer(change: Change) -> dict[str, Any]:
    """Return a change as the API answers it."""
    return {"city_version": change.version, "action": change.action, "target": change.target,
            "before": change.before, "after": change.after}  # fmt: skip


@city_api.get("")
def city_summary(_: CityReader, request: Request) -> dict[str, Any]:
    """Return the city's version and counts as the files have them now."""
    city = load_city(editor_of(request).city_dir)
    standing = [p for p in city.permits if p.revoked_at is None]
    return {"version": city.meta.version, "vehicles": len(city.vehicles), "permits": len(standing),
            "revoked_permits": len(city.permits) - len(standing)}  # fmt: skip


@city_api.get("/changes")
def city_changes(_: Registrar, request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[Any]:
    """Return the audit of city changes, newest first."""
    return editor_of(request).history(limit)


@city_api.post("/permits", status_code=201, dependencies=JSON_BODY)
def issue_permit(body: PermitIn, actor: Registrar, request: Request, _svc: Svc) -> dict[str, Any]:
    """Issue a permit; a standing permit of the same truck is revoked now (superseded)."""
    permit = body.model_dump(mode="json", exclude={"datum", "reason"})
    with refusals({409: "city.permit_exists"}, permit=body.permit_id):
        return answer(editor_of(request).issue_permit(permit, who(actor, body.reason), datum=body.datum))


@city_api.delete("/permits/{permit_id}")
def revoke_permit(permit_id: Id, reason: Reason, actor: Registrar, request: Request) -> dict[str, Any]:
    """Revoke a permit from now on: the truck's next trip is unpermitted transport (08109)."""
    with refusals({404: "city.permit_unknown", 409: "city.permit_revoked"}, permit=permit_id):
        return answer(editor_of(request).revoke_permit(permit_id, who(actor, reason)))


@city_api.post("/vehicles", status_code=201, dependencies=JSON_BODY)
def put_vehicle(body: VehicleIn, actor: Registrar, request: Request) -> dict[str, Any]:
    """Add a vehicle, or replace the one with its id."""
    vehicle = body.model_dump(mode="json", exclude={"reason"}, exclude_none=True)
    with refusals({}, vehicle=body.vehicle_id):
        return answer(editor_of(request).put_vehicle(vehicle, who(actor, body.reason)))


@city_api.delete("/vehicles/{vehicle_id}")
def remove_vehicle(vehicle_id: Id, reason: Reason, actor: Registrar, request: Request) -> dict[str, Any]:
    """Remove a vehicle that holds no standing permit."""
    with refusals({404: "city.vehicle_unknown", 409: "city.vehicle_has_permit"}, vehicle=vehicle_id):
        return answer(editor_of(request).remove_vehicle(vehicle_id, who(actor, reason)))


def city_edit_error(_: Request, exc: Exception) -> JSONResponse:
    """Answer a change that cannot be made with its status, why (English), its code and its Chinese message."""
    status = exc.status if isinstance(exc, CityEditError) else 400
    if isinstance(exc, CityEditRefused):
        code, params = exc.code, exc.params
    else:
        code, params = BY_STATUS.get(status, "city.edit_refused"), {}
    return JSONResponse({**error_body(str(exc), code, params), "error": "CityEditError"}, status_code=status)
