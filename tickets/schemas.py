"""Request and response bodies of the tickets HTTP API (validated; documented in the OpenAPI)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tickets.lifecycle import Action

DURATION_PATTERN = r"^\d+(\.\d+)?[hd]$"


class ActionIn(BaseModel):
    """An action on a case."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    reason: str | None = Field(default=None, max_length=500, description="required for 回退, 核查不通过, 督办, 延期, 挂账, 作废")
    unit: str | None = Field(default=None, max_length=128, description="派遣: the unit (default: the routed unit)")
    extension: str | None = Field(default=None, pattern=DURATION_PATTERN, description="延期: e.g. '4h' or '1d'")
    note: str | None = Field(default=None, max_length=1000, description="处置反馈: what was done")
    expected_version: int | None = Field(default=None, ge=0, description="refuse if the case changed since")


class ReportIn(BaseModel):
    """A violation reported by a person (inspector on patrol, hotline call)."""

    model_config = ConfigDict(extra="forbid")

    matter_code: str = Field(pattern=r"^\d{5}$")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    description: str = Field(min_length=1, max_length=1000)
    source: Literal["inspector", "hotline"] = "inspector"
    subject: str | None = Field(default=None, max_length=64, description="device, plate or site, if known")


class NoteIn(BaseModel):
    """A note or photo reference added to a case's evidence."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)
    image_ref: str | None = Field(default=None, max_length=512)


class CaseOut(BaseModel):
    """A case (more fields than listed here are returned)."""

    model_config = ConfigDict(extra="allow")

    case_id: int
    case_no: str | None
    stage: str
    stage_label: str
    matter_code: str
    matter_name: str
    title: str
    severity: str
    unit: str | None
    owner: str | None
    grid_cell: str | None
    lon: float
    lat: float
    discovered_ms: int
    deadline_ms: int | None
    overdue: bool
    supervision_level: int
    version: int
    allowed_actions: list[str] = Field(default_factory=list, description="what the caller may do now")


class CaseDetailOut(CaseOut):
    """A case with its evidence timeline, audit trail and alert episodes."""

    evidence: list[dict[str, object]]
    audit: list[dict[str, object]]
    tickets: list[dict[str, object]]


class MeOut(BaseModel):
    """Who the token belongs to."""

    name: str
    role: str
    role_label: str
    unit: str | None


class ReportOut(BaseModel):
    """The case a report went to (a new one, or an open one nearby)."""

    case_id: int
