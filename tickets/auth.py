"""Bearer tokens mapped to roles. Tokens are kept as SHA-256 hashes; nothing anonymous may write.

Tokens come from the tickets config (``users``: hashes only), from the settings
(``CITYWATCH_TICKET_TOKENS``, a JSON list with plain tokens, hashed on load) or, for the demo,
from ``demo_tokens`` (random, printed once at start). Every source is checked on load: no token
for ``system``, a handling-unit (``unit``) token must name its unit and a company login
(``company``) its company, else it would have no scope, and a token scoped to an org node
(``node``) must name a node of the tree (and a company one the city knows, when the book is
given them); a book with such an entry is refused (``TicketConfigError``), so the service does not start.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from devices.inventory import City
from tickets.config import UserConfig
from tickets.errors import TicketConfigError
from tickets.lifecycle import Actor, Role
from tickets.org import OrgTree


def token_hash(token: str) -> str:
    """Return the SHA-256 hex digest of a token (tokens are random, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token handed to a person (demo or settings), with the actor it stands for."""

    token: str
    actor: Actor


def check_actor(
    actor: Actor, source: str = "token", org: OrgTree | None = None, companies: Collection[str] | None = None
) -> Actor:
    """Return the actor if a token may stand for it; raise TicketConfigError naming the source if not."""
    who = f"{source}: user {actor.name!r}"
    if actor.role is Role.SYSTEM:
        raise TicketConfigError(f"{who}: role 'system' is internal and has no token")
    if actor.role is Role.UNIT and not (actor.unit or "").strip():
        raise TicketConfigError(f"{who}: a handling-unit (unit) token needs a unit")
    if (actor.role is Role.COMPANY) != bool((actor.company or "").strip()):
        raise TicketConfigError(f"{who}: a company login needs a company, and only a company login names one")
    if actor.company and companies is not None and actor.company not in companies:
        raise TicketConfigError(f"{who}: unknown company {actor.company!r} (known: {', '.join(sorted(companies))})")
    if actor.node is not None and org is not None and actor.node not in org.nodes:
        raise TicketConfigError(f"{who}: unknown org node {actor.node!r} (known: {', '.join(org.nodes)})")
    return actor


def known_companies(city: City | None) -> frozenset[str] | None:
    """Return the companies of the city's vehicles, those a company login may name (None: no city to check)."""
    return None if city is None else frozenset(v.company for v in city.vehicles if v.company)


class TokenBook:
    """Looks up the actor of a bearer token (checked against the org tree and the city's companies, if given)."""

    def __init__(
        self,
        users: Iterable[UserConfig] = (),
        issued: Iterable[IssuedToken] = (),
        org: OrgTree | None = None,
        companies: Collection[str] | None = None,
    ) -> None:
        self._by_hash: dict[str, Actor] = {
            u.token_sha256: check_actor(
                Actor(u.name, u.role, u.unit, u.node, u.company), "tickets config users", org, companies
            )
            for u in users
        }
        for t in issued:
            self._by_hash[token_hash(t.token)] = check_actor(t.actor, "token", org, companies)

    def actor(self, token: str | None) -> Actor | None:
        """Return the actor for a token, or None."""
        if not token:
            return None
        return self._by_hash.get(token_hash(token))

    def __len__(self) -> int:
        return len(self._by_hash)


def parse_tokens(text: str) -> list[IssuedToken]:
    """Parse CITYWATCH_TICKET_TOKENS: a JSON list of {name, role, unit?, node?, company?, token} (empty: none)."""
    if not text.strip():
        return []
    try:
        items = json.loads(text)
        issued = [
            IssuedToken(
                str(i["token"]),
                Actor(
                    str(i["name"]), Role(i["role"]), _text(i.get("unit")), _text(i.get("node")), _text(i.get("company"))
                ),
            )
            for i in items
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TicketConfigError(
            f"CITYWATCH_TICKET_TOKENS: expected a JSON list of {{name, role, unit?, node?, company?, token}}: {exc}"
        ) from exc
    if any(len(t.token) < 16 for t in issued):
        raise TicketConfigError("CITYWATCH_TICKET_TOKENS: tokens need 16+ characters")
    return [IssuedToken(t.token, check_actor(t.actor, "CITYWATCH_TICKET_TOKENS")) for t in issued]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


DEMO_PEOPLE = (
    ("王敏", Role.SHIFT_LEAD),
    ("李静", Role.INTAKE),
    ("赵强", Role.DISPATCHER),
    ("陈刚", Role.INSPECTOR),
    ("指挥大屏", Role.SCREEN),
    ("周婷", Role.REGISTRAR),
)


def demo_tokens(units: Iterable[str], org: OrgTree | None = None, companies: Iterable[str] = ()) -> list[IssuedToken]:
    """Return fresh random tokens for one person per role, one per handling unit, a dispatcher of the
    tree's first district and a login of the first company (to show tenancy)."""
    people = [IssuedToken(secrets.token_urlsafe(18), Actor(name, role)) for name, role in DEMO_PEOPLE]
    people += [
        IssuedToken(secrets.token_urlsafe(18), Actor(f"{unit}处置员", Role.UNIT, unit))
        for unit in sorted(set(units))
        if unit.strip()
    ]
    districts = org.nodes_of_kind("district") if org is not None else []
    if districts:
        d = districts[0]
        people.append(IssuedToken(secrets.token_urlsafe(18), Actor(f"{d.name}派遣员", Role.DISPATCHER, node=d.id)))
    if company := next((c for c in companies if c.strip()), None):
        people.append(IssuedToken(secrets.token_urlsafe(18), Actor(company, Role.COMPANY, company=company)))
    return people
