"""The case lifecycle of a 数字城管 centre, as a pure state machine.

发现 → 受理 → 立案 → 派遣 → 处置 → 核查 → 结案, with 督办 (supervise), 延期 (extend), 回退
(return to dispatch), 挂账 (park), 作废 (void) and 重开 (reopen). ``transition`` takes a case,
a command, the actor and the time, and returns the new case and one audit record; it reads no
clock and no database. Every (action, stage, role) that is allowed is listed in ``TRANSITIONS``;
anything else is refused with an error that says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from tickets.calendar import Duration, WorkingCalendar
from tickets.errors import Forbidden, IllegalTransition, MissingReason


class Stage(StrEnum):
    """Where a case stands."""

    DISCOVERED = "discovered"  # 发现: reported by a sensor, camera, inspector or hotline
    ACCEPTED = "accepted"  # 受理: registered and checked by intake
    REGISTERED = "registered"  # 立案: case opened, waiting for dispatch
    DISPATCHED = "dispatched"  # 派遣: with the responsible unit
    HANDLED = "handled"  # 处置: the unit reported it handled, waiting for verification
    VERIFIED = "verified"  # 核查: verified on site or by evidence, waiting for closure
    CLOSED = "closed"  # 结案
    PARKED = "parked"  # 挂账: parked long-term
    VOID = "void"  # 作废: false alarm or duplicate


class Role(StrEnum):
    """Who acts on cases: the posts of a 数字城管 command centre, its handling units and companies."""

    INTAKE = "intake"  # 受理员
    DISPATCHER = "dispatcher"  # 派遣员
    UNIT = "unit"  # 专业部门 (handling unit)
    INSPECTOR = "inspector"  # 监督员
    SHIFT_LEAD = "shift_lead"  # 值班长
    SCREEN = "screen"  # 大屏 (read only)
    REGISTRAR = "registrar"  # 数据管理员: issues and revokes permits (准运证), keeps the vehicle registry; no cases
    COMPANY = "company"  # 运输企业: a contractor company's login, reads its own trucks' cases only
    SYSTEM = "system"  # automatic actions (overdue 督办, evidence verification, reopening)


class Action(StrEnum):
    """What can be done to a case."""

    ACCEPT = "accept"  # 受理
    REGISTER = "register"  # 立案
    DISPATCH = "dispatch"  # 派遣
    RETURN = "return"  # 回退
    HANDLE = "handle"  # 处置反馈
    VERIFY = "verify"  # 核查通过
    REJECT = "reject"  # 核查不通过 (back to the unit)
    CLOSE = "close"  # 结案
    SUPERVISE = "supervise"  # 督办
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    EXTEND = "extend"  # 延期 (approved)
    PARK = "park"  # 挂账
    UNPARK = "unpark"  # 取消挂账
    VOID = "void"  # 作废
    REOPEN = "reopen"  # 重开


STAGE_LABELS = {
    Stage.DISCOVERED: "发现",
    Stage.ACCEPTED: "受理",
    Stage.REGISTERED: "立案",
    Stage.DISPATCHED: "派遣",
    Stage.HANDLED: "处置",
    Stage.VERIFIED: "核查",
    Stage.CLOSED: "结案",
    Stage.PARKED: "挂账",
    Stage.VOID: "作废",
}
ACTION_LABELS = {
    Action.ACCEPT: "受理",
    Action.REGISTER: "立案",
    Action.DISPATCH: "派遣",
    Action.RETURN: "回退",
    Action.HANDLE: "处置反馈",
    Action.VERIFY: "核查通过",
    Action.REJECT: "核查不通过",
    Action.CLOSE: "结案",
    Action.SUPERVISE: "督办",
    Action.REQUEST_EXTENSION: "申请延期",
    Action.EXTEND: "延期",
    Action.PARK: "挂账",
    Action.UNPARK: "取消挂账",
    Action.VOID: "作废",
    Action.REOPEN: "重开",
}
ROLE_LABELS = {
    Role.INTAKE: "受理员",
    Role.DISPATCHER: "派遣员",
    Role.UNIT: "专业部门",
    Role.INSPECTOR: "监督员",
    Role.SHIFT_LEAD: "值班长",
    Role.SCREEN: "大屏",
    Role.REGISTRAR: "数据管理员",
    Role.COMPANY: "企业",
    Role.SYSTEM: "系统",
}
TERMINAL = frozenset({Stage.CLOSED, Stage.VOID})
OPEN_STAGES = frozenset(Stage) - TERMINAL - {Stage.PARKED}


@dataclass(frozen=True, slots=True)
class Transition:
    """One allowed move: an action from some stages, by some roles, to a stage (None = stays)."""

    action: Action
    sources: frozenset[Stage]
    target: Stage | None
    roles: frozenset[Role]
    needs_reason: bool = False


def _t(action: Action, sources: set[Stage], target: Stage | None, roles: set[Role], reason: bool = False) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(roles), reason)


S, R = Stage, Role
TRANSITIONS: tuple[Transition, ...] = (
    _t(Action.ACCEPT, {S.DISCOVERED}, S.ACCEPTED, {R.INTAKE, R.SHIFT_LEAD, R.SYSTEM}),  # system: dispatch-ahead
    _t(Action.REGISTER, {S.ACCEPTED}, S.REGISTERED, {R.SHIFT_LEAD, R.SYSTEM}),  # tasks (forecasts) only,
    _t(Action.DISPATCH, {S.REGISTERED}, S.DISPATCHED, {R.DISPATCHER, R.SHIFT_LEAD, R.SYSTEM}),  # tickets/intake.py
    _t(Action.RETURN, {S.DISPATCHED}, S.REGISTERED, {R.UNIT, R.DISPATCHER, R.SHIFT_LEAD}, reason=True),
    _t(Action.HANDLE, {S.DISPATCHED}, S.HANDLED, {R.UNIT, R.SYSTEM}),
    _t(Action.VERIFY, {S.HANDLED}, S.VERIFIED, {R.INSPECTOR, R.SYSTEM}),
    _t(Action.REJECT, {S.HANDLED}, S.DISPATCHED, {R.INSPECTOR}, reason=True),
    _t(Action.CLOSE, {S.VERIFIED}, S.CLOSED, {R.SHIFT_LEAD}),
    _t(
        Action.SUPERVISE,
        {S.DISCOVERED, S.ACCEPTED, S.REGISTERED, S.DISPATCHED, S.HANDLED, S.VERIFIED},
        None,
        {R.SHIFT_LEAD, R.SYSTEM},
        reason=True,
    ),
    _t(Action.REQUEST_EXTENSION, {S.DISPATCHED}, None, {R.UNIT}, reason=True),
    _t(Action.EXTEND, {S.DISPATCHED}, None, {R.SHIFT_LEAD}, reason=True),
    _t(Action.PARK, {S.REGISTERED, S.DISPATCHED}, S.PARKED, {R.SHIFT_LEAD}, reason=True),
    _t(Action.UNPARK, {S.PARKED}, S.REGISTERED, {R.SHIFT_LEAD}),
    _t(Action.VOID, {S.DISCOVERED, S.ACCEPTED}, S.VOID, {R.INTAKE, R.SHIFT_LEAD}, reason=True),
    _t(Action.VOID, {S.REGISTERED, S.PARKED}, S.VOID, {R.SHIFT_LEAD}, reason=True),
    _t(Action.REOPEN, {S.CLOSED}, S.REGISTERED, {R.SHIFT_LEAD, R.SYSTEM}, reason=True),
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a named person (or the system) with a role, a unit for handling units, a company for
    company logins, and the org node the person is scoped to (none: the whole city)."""

    name: str
    role: Role
    unit: str | None = None
    node: str | None = None
    company: str | None = None


SYSTEM = Actor("system", Role.SYSTEM)


@dataclass(frozen=True, slots=True)
class Command:
    """An action with its arguments: reason, unit to dispatch to, extension, supervision level."""

    action: Action
    reason: str | None = None
    unit: str | None = None
    extension: Duration | None = None
    level: int | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """What the lifecycle needs from config: the calendar and the time limits."""

    calendar: WorkingCalendar
    stage_limits: Mapping[Stage, Duration]
    handle_limits: Mapping[str, Duration]
    default_handle: Duration
    max_level: int = 3

    def handle_limit(self, matter_code: str) -> Duration:
        """Return the handling time limit (处置时限) of a matter."""
        return self.handle_limits.get(matter_code, self.default_handle)


@dataclass(frozen=True, slots=True)
class Case:
    """The lifecycle fields of a case (the store keeps the rest: place, owner, evidence)."""

    case_id: int
    stage: Stage
    matter_code: str
    unit: str | None
    stage_entered_ms: int
    deadline_ms: int | None = None  # of the current stage
    handle_deadline_ms: int | None = None  # 处置时限, extensions included
    dispatched_ms: int | None = None
    handled_ms: int | None = None
    closed_ms: int | None = None
    handled_on_time: bool | None = None
    supervision_level: int = 0  # 督办 level in the current stage
    supervisions: int = 0
    extension_request: Duration | None = None
    extensions: int = 0
    reopened: int = 0
    version: int = 0


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One append-only line of a case's history: who, when, from / to, why."""

    case_id: int
    at_ms: int
    actor: str
    role: Role
    action: str
    from_stage: Stage | None
    to_stage: Stage
    reason: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def find_transition(action: Action, stage: Stage, role: Role) -> Transition:
    """Return the transition for action from stage by role; raise if there is none."""
    from_stage = [t for t in TRANSITIONS if t.action is action and stage in t.sources]
    if not from_stage:
        raise IllegalTransition(
            f"cannot {action.value} ({ACTION_LABELS[action]}) a case that is {stage.value} ({STAGE_LABELS[stage]})"
        )
    for t in from_stage:
        if role in t.roles:
            return t
    allowed = sorted({r.value for t in from_stage for r in t.roles})
    raise Forbidden(f"role {role.value} may not {action.value} a {stage.value} case (allowed: {', '.join(allowed)})")


def _unit_may_touch(case: Case, actor: Actor) -> bool:
    """Tell whether the actor is not a handling unit, or is the case's unit (a unit without a unit is none)."""
    return actor.role is not Role.UNIT or (bool(actor.unit) and case.unit == actor.unit)


def allowed_actions(case: Case, actor: Actor) -> list[Action]:
    """Return the actions this actor may take on this case now."""
    if not _unit_may_touch(case, actor):
        return []
    return sorted(
        {t.action for t in TRANSITIONS if case.stage in t.sources and actor.role in t.roles}, key=list(Action).index
    )


def transition(case: Case, command: Command, actor: Actor, at_ms: int, policy: Policy) -> tuple[Case, AuditRecord]:
    """Apply a command to a case at a time; return the new case and its audit record."""
    t = find_transition(command.action, case.stage, actor.role)
    if not _unit_may_touch(case, actor):
        raise Forbidden(f"case {case.case_id} is with unit {case.unit!r}, not {actor.unit!r}")
    if t.needs_reason and actor.role is not Role.SYSTEM and not (command.reason or "").strip():
        raise MissingReason(f"{command.action.value} ({ACTION_LABELS[command.action]}) needs a reason")
    new, detail = _EFFECTS[command.action](case, command, at_ms, policy)
    if t.target is not None and t.target is not case.stage:
        new = _enter(new, t.target, at_ms, policy)
    new = replace(new, version=case.version + 1)
    audit = AuditRecord(
        case.case_id,
        at_ms,
        actor.name,
        actor.role,
        command.action.value,
        case.stage,
        new.stage,
        command.reason,
        {**detail, **_deadlines(new)},
    )
    return new, audit


def discover(
    case_id: int, matter_code: str, unit: str | None, at_ms: int, policy: Policy, source: str = "sensor"
) -> tuple[Case, AuditRecord]:
    """Open a case in the 发现 stage; return it and its first audit record."""
    case = _enter(Case(case_id, Stage.DISCOVERED, matter_code, unit, at_ms), Stage.DISCOVERED, at_ms, policy)
    audit = AuditRecord(
        case_id,
        at_ms,
        "system",
        Role.SYSTEM,
        "discover",
        None,
        Stage.DISCOVERED,
        None,
        {"source": source, **_deadlines(case)},
    )
    return case, audit


def _enter(case: Case, stage: Stage, at_ms: int, policy: Policy) -> Case:
    """Move into a stage: reset its clock, supervision level and deadline."""
    limit = policy.stage_limits.get(stage)
    deadline = policy.calendar.add(at_ms, limit) if limit is not None and stage in OPEN_STAGES else None
    if stage is Stage.DISPATCHED:
        deadline = case.handle_deadline_ms
    return replace(case, stage=stage, stage_entered_ms=at_ms, deadline_ms=deadline, supervision_level=0)


def _deadlines(case: Case) -> dict[str, Any]:
    return {"deadline_ms": case.deadline_ms, "unit": case.unit}


Effect = dict[str, Any]


def _no_effect(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    return case, {}


def _dispatch(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    unit = cmd.unit or case.unit
    if not unit:
        raise IllegalTransition(f"case {case.case_id} has no responsible unit: name one to dispatch to")
    limit = policy.handle_limit(case.matter_code)
    deadline = policy.calendar.add(at_ms, limit)
    new = replace(case, unit=unit, dispatched_ms=at_ms, handle_deadline_ms=deadline, handled_on_time=None)
    return new, {"handle_limit": limit.label(), "handle_deadline_ms": deadline}


def _return(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    return replace(case, handle_deadline_ms=None, extension_request=None), {"returned_by_unit": case.unit}


def _handle(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    on_time = case.handle_deadline_ms is None or at_ms <= case.handle_deadline_ms
    new = replace(case, handled_ms=at_ms, handled_on_time=on_time, extension_request=None)
    return new, {"on_time": on_time, "feedback": cmd.note}


def _reject(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    return replace(case, handled_ms=None, handled_on_time=None), {}


def _close(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    return replace(case, closed_ms=at_ms), {}


def _supervise(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    level = cmd.level if cmd.level is not None else case.supervision_level + 1
    if not case.supervision_level < level <= policy.max_level:
        raise IllegalTransition(
            f"case {case.case_id} is at 督办 level {case.supervision_level}; "
            f"cannot go to {level} (max {policy.max_level})"
        )
    new = replace(case, supervision_level=level, supervisions=case.supervisions + 1)
    return new, {"from_level": case.supervision_level, "to_level": level}


def _request_extension(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    if cmd.extension is None or cmd.extension.value <= 0:
        raise IllegalTransition("an extension request needs a positive duration")
    return replace(case, extension_request=cmd.extension), {"requested": cmd.extension.label()}


def _extend(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    ext = cmd.extension or case.extension_request
    if ext is None or ext.value <= 0:
        raise IllegalTransition("an extension needs a positive duration (or a pending request)")
    base = case.handle_deadline_ms if case.handle_deadline_ms is not None else at_ms
    deadline = policy.calendar.add(base, ext)
    new = replace(
        case,
        handle_deadline_ms=deadline,
        deadline_ms=deadline,
        extension_request=None,
        extensions=case.extensions + 1,
        supervision_level=0,
    )
    return new, {"extension": ext.label(), "from_deadline_ms": base, "handle_deadline_ms": deadline}


def _unpark(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    return replace(case, handle_deadline_ms=None), {}


def _reopen(case: Case, cmd: Command, at_ms: int, policy: Policy) -> tuple[Case, Effect]:
    new = replace(
        case, closed_ms=None, handled_ms=None, handled_on_time=None, handle_deadline_ms=None, reopened=case.reopened + 1
    )
    return new, {"reopened": new.reopened}


_EFFECTS = {
    Action.ACCEPT: _no_effect,
    Action.REGISTER: _no_effect,
    Action.DISPATCH: _dispatch,
    Action.RETURN: _return,
    Action.HANDLE: _handle,
    Action.VERIFY: _no_effect,
    Action.REJECT: _reject,
    Action.CLOSE: _close,
    Action.SUPERVISE: _supervise,
    Action.REQUEST_EXTENSION: _request_extension,
    Action.EXTEND: _extend,
    Action.PARK: _no_effect,
    Action.UNPARK: _unpark,
    Action.VOID: _no_effect,
    Action.REOPEN: _reopen,
}
