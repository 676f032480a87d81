"""Who may use which API route, and which cases a token sees: the API's access rules in one place.

The command centre's people (intake, dispatcher, inspector, shift lead) and its big screen read
the whole city. A handling unit (``unit``) reads its own unit's cases, their evidence, audit
trail and tracks, and the KPIs of those cases; the city-wide alert feed, live positions and
company scores are the centre's and are refused (403). A unit token without a unit sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tickets.lifecycle import TRANSITIONS, Actor, Role

TOKEN_ROLES = frozenset(Role) - {Role.SYSTEM}  # system acts inside the service and has no token
CASE_ACTORS = frozenset(r for t in TRANSITIONS for r in t.roles) - {Role.SYSTEM}
NOTE_WRITERS = TOKEN_ROLES - {Role.SCREEN}
REPORTERS = frozenset({Role.INTAKE, Role.INSPECTOR, Role.SHIFT_LEAD})
CITY_WIDE = TOKEN_ROLES - {Role.UNIT}


@dataclass(frozen=True, slots=True)
class Scope:
    """The cases an actor may see: every case, or one unit's (none when that unit is unknown)."""

    city_wide: bool = True
    unit: str | None = None

    @property
    def sees_nothing(self) -> bool:
        """Tell whether no case at all is visible."""
        return not self.city_wide and not self.unit

    def sees(self, case_unit: str | None) -> bool:
        """Tell whether a case with this responsible unit is visible."""
        return self.city_wide or (bool(self.unit) and case_unit == self.unit)


def scope_of(actor: Actor) -> Scope:
    """Return what an actor may see: a handling unit its own unit's cases, everyone else the city."""
    if actor.role is Role.UNIT:
        return Scope(city_wide=False, unit=actor.unit or None)
    return Scope()
