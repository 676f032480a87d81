"""Bearer tokens mapped to roles. Tokens are kept as SHA-256 hashes; nothing anonymous may write.

Tokens come from the tickets config (``users``: hashes only), from the settings
(``CITYWATCH_TICKET_TOKENS``, a JSON list with plain tokens, hashed on load) or, for the demo,
from ``demo_tokens`` (random, printed once at start). Every source is checked on load: no token
for ``system``, and a handling-unit (``unit``) token must name its unit, else it would have no
scope; a book with such an entry is refused (``TicketConfigError``), so the service does not start.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from tickets.config import UserConfig
from tickets.errors import TicketConfigError
from tickets.lifecycle import Actor, Role


def token_hash(token: str) -> str:
    """Return the SHA-256 hex digest of a token (tokens are random, so no salt or KDF is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token handed to a person (demo or settings), with the actor it stands for."""

    token: str
    actor: Actor


def check_actor(actor: Actor, source: str = "token") -> Actor:
    """Return the actor if a token may stand for it; raise TicketConfigError naming the source if not."""
    if actor.role is Role.SYSTEM:
        raise TicketConfigError(f"{source}: user {actor.name!r}: role 'system' is internal and has no token")
    if actor.role is Role.UNIT and not (actor.unit or "").strip():
        raise TicketConfigError(f"{source}: user {actor.name!r}: a handling-unit (unit) token needs a unit")
    return actor


class TokenBook:
    """Looks up the actor of a bearer token."""

    def __init__(self, users: Iterable[UserConfig] = (), issued: Iterable[IssuedToken] = ()) -> None:
        self._by_hash: dict[str, Actor] = {
            u.token_sha256: check_actor(Actor(u.name, u.role, u.unit), "tickets config users") for u in users}
        for t in issued:
            self._by_hash[token_hash(t.token)] = check_actor(t.actor)

    def actor(self, token: str | None) -> Actor | None:
        """Return the actor for a token, or None."""
        if not token:
            return None
        return self._by_hash.get(token_hash(token))

    def __len__(self) -> int:
        return len(self._by_hash)


def parse_tokens(text: str) -> list[IssuedToken]:
    """Parse CITYWATCH_TICKET_TOKENS: a JSON list of {name, role, unit?, token} (empty: none)."""
    if not text.strip():
        return []
    try:
        items = json.loads(text)
        issued = [IssuedToken(str(i["token"]), Actor(str(i["name"]), Role(i["role"]), _text(i.get("unit"))))
                  for i in items]
    except (ValueError, KeyError, TypeError) as exc:
        raise TicketConfigError(f"CITYWATCH_TICKET_TOKENS: expected a JSON list of "
                                f"{{name, role, unit?, token}}: {exc}") from exc
    if any(len(t.token) < 16 for t in issued):
        raise TicketConfigError("CITYWATCH_TICKET_TOKENS: tokens need 16+ characters")
    return [IssuedToken(t.token, check_actor(t.actor, "CITYWATCH_TICKET_TOKENS")) for t in issued]


def _text(value: object) -> str | None:
    return None if value is None else str(value)


DEMO_PEOPLE = (
    ("王敏", Role.SHIFT_LEAD), ("李静", Role.INTAKE), ("赵强", Role.DISPATCHER),
    ("陈刚", Role.INSPECTOR), ("指挥大屏", Role.SCREEN),
)


def demo_tokens(units: Iterable[str]) -> list[IssuedToken]:
    """Return fresh random tokens for one person per role, and one per handling unit."""
    people = [IssuedToken(secrets.token_urlsafe(18), Actor(name, role)) for name, role in DEMO_PEOPLE]
    people += [IssuedToken(secrets.token_urlsafe(18), Actor(f"{unit}处置员", Role.UNIT, unit))
               for unit in sorted(set(units)) if unit.strip()]
    return people
