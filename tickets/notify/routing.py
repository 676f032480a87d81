"""Which channels a case event goes to, and whom each one @-mentions (robots) or texts (SMS)."""

from __future__ import annotations

from collections.abc import Sequence

from tickets.notify.config import SEVERITIES, Match, Route
from tickets.notify.message import Notice

RANK = {s: i for i, s in enumerate(SEVERITIES)}


def matches(match: Match, n: Notice) -> bool:
    """Tell whether an event meets every criterion a route gives (an empty criterion holds for all)."""
    return (
        (not match.event_types or n.event_type in match.event_types)
        and (not match.matters or any(n.matter_code.startswith(code) for code in match.matters))
        and (match.min_severity is None or RANK.get(n.severity, -1) >= RANK[match.min_severity])
        and (not match.units or n.unit in match.units)
    )


def targets(routes: Sequence[Route], n: Notice) -> dict[str, tuple[str, ...]]:
    """Return every channel of every matching route, once each, with the union of those routes' mentions."""
    found: dict[str, list[str]] = {}
    for route in routes:
        if not matches(route.match, n):
            continue
        for channel in route.to:
            mentions = found.setdefault(channel, [])
            mentions.extend(m for m in route.mention if m not in mentions)
    return {channel: tuple(mentions) for channel, mentions in found.items()}
