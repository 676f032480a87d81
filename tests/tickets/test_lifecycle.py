"""The case lifecycle: every (action, stage, role) is either a listed transition or refused with a clear error."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from tests.tickets.conftest import at
from tickets.calendar import Duration
from tickets.config import TicketConfig
from tickets.errors import Forbidden, IllegalTransition, MissingReason
from tickets.lifecycle import (
    TRANSITIONS,
    Action,
    Actor,
    Case,
    Command,
    Role,
    Stage,
    allowed_actions,
    discover,
    find_transition,
    transition,
)

UNIT = "江城示范区环卫所"
NOW = at("2026-03-02 09:00")
ACTORS = {r: Actor(f"{r.value}-person", r, UNIT if r is Role.UNIT else None) for r in Role}

# The table the README documents: action -> (from stages, to stage or None = stays, roles, needs a reason).
TABLE = {
    ("accept", "discovered"): ("accepted", {"intake", "shift_lead", "system"}, False),
    ("register", "accepted"): ("registered", {"shift_lead", "system"}, False),
    ("dispatch", "registered"): ("dispatched", {"dispatcher", "shift_lead", "system"}, False),
    ("return", "dispatched"): ("registered", {"unit", "dispatcher", "shift_lead"}, True),
    ("handle", "dispatched"): ("handled", {"unit", "system"}, False),
    ("verify", "handled"): ("verified", {"inspector", "system"}, False),
    ("reject", "handled"): ("dispatched", {"inspector"}, True),
    ("close", "verified"): ("closed", {"shift_lead"}, False),
    **{
        ("supervise", s): (None, {"shift_lead", "system"}, True)
        for s in ("discovered", "accepted", "registered", "dispatched", "handled", "verified")
    },
    ("request_extension", "dispatched"): (None, {"unit"}, True),
    ("extend", "dispatched"): (None, {"shift_lead"}, True),
    ("park", "registered"): ("parked", {"shift_lead"}, True),
    ("park", "dispatched"): ("parked", {"shift_lead"}, True),
    ("unpark", "parked"): ("registered", {"shift_lead"}, False),
    ("void", "discovered"): ("void", {"intake", "shift_lead"}, True),
    ("void", "accepted"): ("void", {"intake", "shift_lead"}, True),
    ("void", "registered"): ("void", {"shift_lead"}, True),
    ("void", "parked"): ("void", {"shift_lead"}, True),
    ("reopen", "closed"): ("registered", {"shift_lead", "system"}, True),
}


def case_at(stage: Stage, config: TicketConfig) -> Case:
    """Return a case in a stage, with the fields that stage implies."""
    handle = config.policy.calendar.add(NOW, Duration(2))
    base = Case(7, stage, "06042", UNIT, NOW, deadline_ms=NOW + 1800_000, version=3)
    if stage in (Stage.DISPATCHED, Stage.HANDLED, Stage.VERIFIED):
        base = replace(base, dispatched_ms=NOW, handle_deadline_ms=handle)
    if stage is Stage.CLOSED:
        base = replace(base, closed_ms=NOW)
    return base


def command_for(action: Action) -> Command:
    return Command(action, reason="现场核实", extension=Duration(4), note="已清运")


def test_the_transition_table_is_the_documented_one() -> None:
    code = {
        (t.action.value, s.value): (t.target.value if t.target else None, {r.value for r in t.roles}, t.needs_reason)
        for t in TRANSITIONS
        for s in t.sources
    }
    assert code == TABLE


ALL = list(itertools.product(Action, Stage, Role))


@pytest.mark.parametrize(("action", "stage", "role"), ALL, ids=[f"{a.value}-{s.value}-{r.value}" for a, s, r in ALL])
def test_every_action_from_every_stage_by_every_role(
    action: Action, stage: Stage, role: Role, config: TicketConfig
) -> None:
    case, actor = case_at(stage, config), ACTORS[role]
    expected = TABLE.get((action.value, stage.value))
    if expected is None:
        with pytest.raises(IllegalTransition, match=f"cannot {action.value}"):
            transition(case, command_for(action), actor, NOW + 60_000, config.policy)
        return
    target, roles, _ = expected
    if role.value not in roles:
        with pytest.raises(Forbidden, match=f"role {role.value} may not {action.value}"):
            transition(case, command_for(action), actor, NOW + 60_000, config.policy)
        return
    new, audit = transition(case, command_for(action), actor, NOW + 60_000, config.policy)
    assert new.stage.value == (target or stage.value)
    assert new.version == case.version + 1
    assert (audit.case_id, audit.actor, audit.role, audit.action) == (7, actor.name, role, action.value)
    assert (audit.from_stage, audit.to_stage, audit.reason) == (stage, new.stage, "现场核实")
    assert action in allowed_actions(case, actor)


@pytest.mark.parametrize("key", [k for k, v in TABLE.items() if v[2]], ids=lambda k: f"{k[0]}-{k[1]}")
def test_a_person_must_give_a_reason_where_one_is_needed(key: tuple[str, str], config: TicketConfig) -> None:
    action, stage = Action(key[0]), Stage(key[1])
    role = next(Role(r) for r in sorted(TABLE[key][1]) if r != "system")
    with pytest.raises(MissingReason):
        transition(
            case_at(stage, config),
            Command(action, reason="  ", extension=Duration(1)),
            ACTORS[role],
            NOW,
            config.policy,
        )


def test_a_handling_unit_acts_only_on_its_own_cases(config: TicketConfig) -> None:
    other = Actor("他人", Role.UNIT, "别的单位")
    case = case_at(Stage.DISPATCHED, config)
    with pytest.raises(Forbidden, match="is with unit"):
        transition(case, Command(Action.HANDLE), other, NOW, config.policy)
    assert allowed_actions(case, other) == []
    assert allowed_actions(case, ACTORS[Role.UNIT]) == [Action.RETURN, Action.HANDLE, Action.REQUEST_EXTENSION]


def test_full_loop_deadlines_and_on_time(config: TicketConfig) -> None:
    p, lead = config.policy, ACTORS[Role.SHIFT_LEAD]
    case, audit = discover(1, "06042", UNIT, at("2026-03-06 16:00"), p)  # a Friday afternoon
    assert case.stage is Stage.DISCOVERED and case.deadline_ms == at("2026-03-06 16:30")
    assert audit.action == "discover" and audit.from_stage is None
    case, _ = transition(case, Command(Action.ACCEPT), ACTORS[Role.INTAKE], at("2026-03-06 16:10"), p)
    case, _ = transition(case, Command(Action.REGISTER), lead, at("2026-03-06 16:20"), p)
    case, audit = transition(case, Command(Action.DISPATCH), ACTORS[Role.DISPATCHER], at("2026-03-06 17:00"), p)
    assert case.handle_deadline_ms == at("2026-03-09 10:00")  # 2 working hours for 06042, over the weekend
    assert case.deadline_ms == case.handle_deadline_ms and audit.detail["handle_limit"] == "2 工作时"
    case, audit = transition(case, Command(Action.HANDLE, note="已清运"), ACTORS[Role.UNIT], at("2026-03-09 09:30"), p)
    assert case.handled_on_time is True and audit.detail["feedback"] == "已清运"
    case, _ = transition(case, Command(Action.VERIFY), ACTORS[Role.INSPECTOR], at("2026-03-09 10:30"), p)
    case, _ = transition(case, Command(Action.CLOSE), lead, at("2026-03-09 11:00"), p)
    assert case.stage is Stage.CLOSED and case.closed_ms == at("2026-03-09 11:00") and case.deadline_ms is None


def test_late_handling_rejection_and_extension(config: TicketConfig) -> None:
    p = config.policy
    case = case_at(Stage.REGISTERED, config)
    case, _ = transition(case, Command(Action.DISPATCH, unit="江城示范区城管执法中队"), ACTORS[Role.DISPATCHER], NOW, p)
    assert case.unit == "江城示范区城管执法中队" and case.handle_deadline_ms == at("2026-03-02 11:00")
    unit = Actor("队员", Role.UNIT, "江城示范区城管执法中队")
    case, _ = transition(
        case, Command(Action.REQUEST_EXTENSION, reason="等待车辆", extension=Duration(1, "days")), unit, NOW, p
    )
    case, audit = transition(case, Command(Action.EXTEND, reason="同意"), ACTORS[Role.SHIFT_LEAD], NOW, p)
    assert case.handle_deadline_ms == at("2026-03-03 11:00") and case.extensions == 1
    assert audit.detail["extension"] == "1 工作日"
    case, _ = transition(case, Command(Action.HANDLE), unit, at("2026-03-03 14:00"), p)
    assert case.handled_on_time is False
    case, _ = transition(
        case, Command(Action.REJECT, reason="仍有垃圾"), ACTORS[Role.INSPECTOR], at("2026-03-03 15:00"), p
    )
    assert case.stage is Stage.DISPATCHED and case.deadline_ms == at("2026-03-03 11:00")  # the deadline stands


def test_supervision_levels_are_bounded_and_dispatch_needs_a_unit(config: TicketConfig) -> None:
    p, lead = config.policy, ACTORS[Role.SHIFT_LEAD]
    case = case_at(Stage.DISPATCHED, config)
    for level in (1, 2, 3):
        case, audit = transition(case, Command(Action.SUPERVISE, reason="催办"), lead, NOW, p)
        assert case.supervision_level == level and audit.detail["to_level"] == level
    with pytest.raises(IllegalTransition, match="max 3"):
        transition(case, Command(Action.SUPERVISE, reason="催办"), lead, NOW, p)
    with pytest.raises(IllegalTransition, match="no responsible unit"):
        transition(replace(case_at(Stage.REGISTERED, config), unit=None), Command(Action.DISPATCH), lead, NOW, p)
    with pytest.raises(IllegalTransition, match="positive duration"):
        transition(case, Command(Action.EXTEND, reason="x"), lead, NOW, p)


def test_reopen_and_find_transition_messages(config: TicketConfig) -> None:
    case, _ = transition(
        case_at(Stage.CLOSED, config), Command(Action.REOPEN, reason="复发"), ACTORS[Role.SYSTEM], NOW, config.policy
    )
    assert (case.stage, case.reopened, case.closed_ms) == (Stage.REGISTERED, 1, None)
    with pytest.raises(IllegalTransition, match=r"cannot close \(结案\) a case that is dispatched \(派遣\)"):
        find_transition(Action.CLOSE, Stage.DISPATCHED, Role.SHIFT_LEAD)
