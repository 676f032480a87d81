"""Who may use which API route, and which cases a token sees: the API's access rules in one place.

The command centre's people (intake, dispatcher, inspector, shift lead) and its big screen read
the whole city. A handling unit (``unit``) reads its own unit's cases, their evidence, audit
trail and tracks, and the KPIs of those cases; the city-wide alert feed, live positions and
company scores are the centre's and are refused (403). A unit token without a unit sees nothing.

Tenancy (``tickets.org``): a person scoped to an org node (a district's dispatcher, a street's
inspector) sees and acts on the cases of that node's subtree only, and is refused the city-wide
routes too; a case without a node counts as the city root's. A company login (``company``) reads
its own trucks' cases (owner = its company) and may do nothing (403 on every write).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from tickets.lifecycle import TRANSITIONS, Actor, Role
from tickets.org import OrgTree, single_root
from tickets.queries import COMPANY_KINDS
from tickets.schema import cases

TOKEN_ROLES = frozenset(Role) - {Role.SYSTEM}  # system acts inside the service and has no token
CASE_ACTORS = frozenset(r for t in TRANSITIONS for r in t.roles) - {Role.SYSTEM}
READ_ONLY = frozenset({Role.SCREEN, Role.COMPANY, Role.REGISTRAR})  # on cases: the registrar keeps the city data
REGISTRARS = frozenset({Role.REGISTRAR, Role.SHIFT_LEAD})  # who may issue / revoke permits and edit vehicles
NOTE_WRITERS = TOKEN_ROLES - READ_ONLY
REPORTERS = frozenset({Role.INTAKE, Role.INSPECTOR, Role.SHIFT_LEAD})
CITY_WIDE = TOKEN_ROLES - {Role.UNIT, Role.COMPANY}  # roles that may read the city-wide feeds (unless node-scoped)


@dataclass(frozen=True, slots=True)
class Scope:
    """The cases an actor may see: all, or those of one unit, one org subtree and / or one company."""

    by_unit: bool = False
    unit: str | None = None
    nodes: frozenset[str] | None = None  # the subtree's node ids; None: the whole city
    node_name: str | None = None  # the node the subtree hangs from (for messages)
    by_company: bool = False
    company: str | None = None

    @property
    def city_wide(self) -> bool:
        """Tell whether every case is visible."""
        return not self.by_unit and self.nodes is None and not self.by_company

    @property
    def sees_nothing(self) -> bool:
        """Tell whether no case at all is visible (a unit or company token naming none, an unknown node)."""
        return (self.by_unit and not self.unit) or (self.by_company and not self.company) or self.nodes == frozenset()

    def refusal(self, case: Mapping[str, Any]) -> str | None:
        """Return why a case (a cases row) is not visible, in Chinese and English, or None if it is."""
        cid = case.get("case_id")
        if self.by_unit and not (self.unit and case.get("unit") == self.unit):
            return f"案件 {cid} 不属于本单位: case {cid} is not with your unit"
        if self.nodes is not None and case.get("node") not in self.nodes:  # a case without node: the root's
            return f"案件 {cid} 不在本辖区 ({self.node_name}) 内: case {cid} is outside your area ({self.node_name})"
        if self.by_company and not (
            self.company and case.get("owner") == self.company and case.get("owner_kind") in COMPANY_KINDS
        ):
            return f"案件 {cid} 不是本企业车辆的案件: case {cid} is not about your company's vehicles"
        return None

    def place_refusal(self, node: str) -> str | None:
        """Return why a place in this org node is outside the scope (for reports), or None if it is inside."""
        if self.nodes is None or node in self.nodes:
            return None
        return f"该地点不在本辖区 ({self.node_name}) 内: the place is outside your area ({self.node_name})"

    def where(self) -> list[ColumnElement[bool]]:
        """Return the conditions on the cases table that select the visible cases (none: every case)."""
        found: list[ColumnElement[bool]] = []
        if self.by_unit:
            found.append(cases.c.unit == (self.unit or ""))
        if self.nodes is not None:
            found.append(cases.c.node.in_(sorted(self.nodes)))  # the root is never in a limited subtree
        if self.by_company:
            found += [cases.c.owner == (self.company or ""), cases.c.owner_kind.in_(COMPANY_KINDS)]
        return found


def scope_of(actor: Actor, org: OrgTree | None = None) -> Scope:
    """Return what an actor may see: its unit's, its subtree's and / or its company's cases, else the city."""
    tree = org or single_root()
    nodes = None
    if actor.node is not None and actor.node != tree.root:
        nodes = tree.subtree(actor.node)  # empty for a node the tree does not know: nothing
    by_unit, by_company = actor.role is Role.UNIT, actor.role is Role.COMPANY
    return Scope(
        by_unit=by_unit,
        unit=(actor.unit or None) if by_unit else None,
        nodes=nodes,
        node_name=tree.name(actor.node) if nodes is not None else None,
        by_company=by_company,
        company=(actor.company or None) if by_company else None,
    )
