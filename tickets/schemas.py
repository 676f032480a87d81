"""Request and response bodies of the tickets HTTP API (validated; documented in the OpenAPI).

Request bodies are strict: unknown fields, wrong JSON types (``"3"`` or ``true`` for a number),
NaN and infinities, and text with control characters or unpaired surrogates are refused (422)
before anything reaches the store.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
)

from tickets.lifecycle import Action

MAX_ID = 2**31 - 1  # case ids and versions are INTEGER columns (PostgreSQL int4); larger ids name no case
DURATION_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,2})?[hd]$"  # at most 999 working hours or days
UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def printable(text: str) -> str:
    """Return the text if it has no control character (tab and newlines allowed) and no unpaired surrogate."""
    if UNPRINTABLE.search(text):
        raise ValueError("text must not contain control characters or unpaired surrogates")
    return text


Text = Annotated[str, AfterValidator(printable)]
STRICT_BODY = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class ActionIn(BaseModel):
    """An action on a case."""

    model_config = STRICT_BODY

    action: Action
    reason: Text | None = Field(
        default=None, max_length=500, description="required for 回退, 核查不通过, 督办, 延期, 挂账, 作废"
    )
    unit: Text | None = Field(default=None, max_length=128, description="派遣: the unit (default: the routed unit)")
    extension: str | None = Field(default=None, pattern=DURATION_PATTERN, description="延期: e.g. '4h' or '1d'")
    note: Text | None = Field(default=None, max_length=1000, description="处置反馈: what was done")
    expected_version: StrictInt | None = Field(
        default=None, ge=0, le=MAX_ID, description="refuse if the case changed since"
    )


class ReportIn(BaseModel):
    """A violation reported by a person (inspector on patrol, hotline call)."""

    model_config = STRICT_BODY

    matter_code: str = Field(pattern=r"^[0-9]{5}$", description="a matter code the city's tables know")
    lon: StrictFloat = Field(ge=-180, le=180, description="WGS-84 longitude, degrees (finite)")
    lat: StrictFloat = Field(ge=-90, le=90, description="WGS-84 latitude, degrees (finite)")
    description: Text = Field(min_length=1, max_length=1000)
    source: Literal["inspector", "hotline"] = "inspector"
    subject: Text | None = Field(default=None, max_length=64, description="device, plate or site, if known")


class NoteIn(BaseModel):
    """A note or photo reference added to a case's evidence."""

    model_config = STRICT_BODY

    text: Text = Field(min_length=1, max_length=1000)
    image_ref: Text | None = Field(default=None, max_length=512)


class LiftIn(BaseModel):
    """Lifting a company's suspension (退出机制): the company and why."""

    model_config = STRICT_BODY

    company: Text = Field(min_length=1, max_length=128)
    reason: Text = Field(min_length=1, max_length=500, description="why the suspension ends (audited)")


class CaseOut(BaseModel):
    """A case (more fields than listed here are returned)."""

    model_config = ConfigDict(extra="allow")

    case_id: int
    case_no: str | None
    stage: str
    stage_label: str
    matter_code: str
    matter_name: str
    queue: str = Field(
        default="enforcement",
        description="enforcement / maintenance (a device fault) / dispatch_ahead (a forecast, dispatched at once)",
    )
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
    """Who the token belongs to, and whether it reads the whole city or a unit's, node's or company's cases."""

    name: str
    role: str
    role_label: str
    unit: str | None
    company: str | None = Field(default=None, description="a company login: the company whose trucks' cases it reads")
    node: str = Field(description="the org node the caller is scoped to (the root: the whole city)")
    node_name: str
    city_wide: bool = Field(description="may read the alert feed, live positions and company scores")


class ReportOut(BaseModel):
    """The case a report went to (a new one, or an open one nearby)."""

    case_id: int
