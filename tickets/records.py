"""Between database rows and the lifecycle's ``Case``, and the JSON views the API returns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any

from tickets.calendar import WorkingCalendar
from tickets.config import parse_duration
from tickets.lifecycle import (
    ACTION_LABELS,
    ROLE_LABELS,
    STAGE_LABELS,
    Action,
    AuditRecord,
    Case,
    Role,
    Stage,
)

SEVERITY_ORDER = ("info", "warning", "major", "critical")
ROLES = {r.value for r in Role}
ACTIONS = {a.value for a in Action}
EXTRA_ACTION_LABELS = {"discover": "发现", "evidence": "补充证据"}
LIFECYCLE_FIELDS = (
    "stage",
    "unit",
    "stage_entered_ms",
    "deadline_ms",
    "handle_deadline_ms",
    "dispatched_ms",
    "handled_ms",
    "closed_ms",
    "handled_on_time",
    "supervision_level",
    "supervisions",
    "extensions",
    "reopened",
    "version",
)


def case_from_row(row: Mapping[str, Any]) -> Case:
    """Return the lifecycle view of a cases row."""
    ext = row["extension_request"]
    return Case(
        case_id=row["case_id"],
        stage=Stage(row["stage"]),
        matter_code=row["matter_code"],
        unit=row["unit"],
        stage_entered_ms=row["stage_entered_ms"],
        deadline_ms=row["deadline_ms"],
        handle_deadline_ms=row["handle_deadline_ms"],
        dispatched_ms=row["dispatched_ms"],
        handled_ms=row["handled_ms"],
        closed_ms=row["closed_ms"],
        handled_on_time=row["handled_on_time"],
        supervision_level=row["supervision_level"],
        supervisions=row["supervisions"],
        extension_request=parse_duration(ext) if ext else None,
        extensions=row["extensions"],
        reopened=row["reopened"],
        version=row["version"],
    )


def case_values(case: Case) -> dict[str, Any]:
    """Return the cases-row columns the lifecycle owns."""
    values = {f: getattr(case, f) for f in LIFECYCLE_FIELDS}
    values["stage"] = case.stage.value
    ext = case.extension_request
    values["extension_request"] = f"{ext.value:g}{'h' if ext.unit == 'hours' else 'd'}" if ext else None
    return values


def audit_values(a: AuditRecord) -> dict[str, Any]:
    """Return the case_audit row of an audit record."""
    return {
        "case_id": a.case_id,
        "at_ms": a.at_ms,
        "actor": a.actor,
        "role": a.role.value,
        "action": a.action,
        "from_stage": a.from_stage.value if a.from_stage else None,
        "to_stage": a.to_stage.value,
        "reason": a.reason,
        "detail": a.detail,
    }


def max_severity(a: str, b: str) -> str:
    """Return the more severe of two severities."""
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    return a if rank.get(a, 0) >= rank.get(b, 0) else b


def case_no(case_id: int, at_ms: int, calendar: WorkingCalendar) -> str:
    """Return the human case number, e.g. CW20261122-00012 (local date of discovery)."""
    day = datetime.fromtimestamp(at_ms / 1000, tz=calendar.tz).strftime("%Y%m%d")
    return f"CW{day}-{case_id:05d}"


def case_view(row: Mapping[Any, Any], now_ms: int, calendar: WorkingCalendar) -> dict[str, Any]:
    """Return a case as the API shows it: columns, labels, overdue status."""
    view = dict(row)
    deadline = row["deadline_ms"]
    overdue = deadline is not None and now_ms > deadline
    view.update(
        stage_label=STAGE_LABELS[Stage(row["stage"])],
        overdue=overdue,
        overdue_working_ms=calendar.working_ms_between(deadline, now_ms) if overdue else 0,
        remaining_working_ms=calendar.working_ms_between(now_ms, deadline) if deadline and not overdue else None,
    )
    return view


def audit_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Return an audit row with labels for people."""
    view = dict(row)
    view["role_label"] = ROLE_LABELS[Role(row["role"])] if row["role"] in ROLES else row["role"]
    action = row["action"]
    view["action_label"] = (
        ACTION_LABELS[Action(action)] if action in ACTIONS else EXTRA_ACTION_LABELS.get(action, action)
    )
    view["from_label"] = STAGE_LABELS[Stage(row["from_stage"])] if row["from_stage"] else None
    view["to_label"] = STAGE_LABELS[Stage(row["to_stage"])]
    return view


def event_payload(
    event_type: str, case: Mapping[str, Any], audit: AuditRecord | None, evidence: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return the body of an outbox event for the city platform."""
    keys = (
        "case_id",
        "case_no",
        "stage",
        "matter_code",
        "matter_name",
        "title",
        "severity",
        "unit",
        "grid_cell",
        "owner",
        "plate",
        "lon",
        "lat",
        "discovered_ms",
        "deadline_ms",
        "handle_deadline_ms",
        "supervision_level",
        "linked_case_id",
    )
    body: dict[str, Any] = {"type": event_type, "case": {k: case.get(k) for k in keys}}
    if audit is not None:
        body["audit"] = {k: (v.value if hasattr(v, "value") else v) for k, v in asdict(audit).items()}
    if evidence is not None:
        body["evidence"] = dict(evidence)
    return body
