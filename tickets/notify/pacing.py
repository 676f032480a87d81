"""When a channel may send: its message budget and the digest plan, backoff after failures, holes in the outbox.

Pure: the clock comes in as arguments. Robots take about 20 messages a minute; when more events are
due than the budget allows, they go as one digest, so a flood neither spams the group nor loses an
event. On PostgreSQL two transactions may commit their outbox rows out of sequence order, so a
hole in the sequence may be an event still committing: the cursor waits a grace period before it
steps over one (a hole left by a rolled-back transaction never fills).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import TypeVar

WINDOW_MS = 60_000
UNLIMITED = 1_000_000
T = TypeVar("T")


class RateLimiter:
    """A sliding one-minute window over the messages a channel has sent."""

    def __init__(self, per_minute: int, window_ms: int = WINDOW_MS) -> None:
        self.per_minute, self.window_ms = per_minute, window_ms
        self.sent: deque[int] = deque()

    def available(self, now_ms: int) -> int:
        """Return how many messages may go now (no limit: a very large number)."""
        if self.per_minute <= 0:
            return UNLIMITED
        while self.sent and self.sent[0] <= now_ms - self.window_ms:
            self.sent.popleft()
        return max(0, self.per_minute - len(self.sent))

    def spend(self, now_ms: int) -> None:
        """Count one message sent now."""
        if self.per_minute > 0:
            self.sent.append(now_ms)

    def saturate(self, now_ms: int) -> None:
        """Use up the budget of the coming minute (the provider said "too fast")."""
        if self.per_minute > 0:
            self.sent = deque([now_ms] * self.per_minute)


def plan(due: Sequence[T], budget: int) -> list[list[T]]:
    """Return the messages to send: one per event within the budget, else all in one digest (none at 0)."""
    if not due or budget <= 0:
        return []
    if len(due) <= budget:
        return [[item] for item in due]
    return [list(due)]


def backoff_ms(attempts: int, base_s: float, max_s: float) -> int:
    """Return the wait after this many failed attempts: doubling from base_s, capped at max_s."""
    return int(min(max_s, base_s * 2 ** max(0, attempts - 1)) * 1000)


def settled(seqs: Sequence[int], after_seq: int, first_seen: dict[int, int], now_ms: int, grace_ms: int) -> int:
    """Return how many of seqs (ascending, after after_seq) precede the first hole younger than grace_ms."""
    expected = after_seq + 1  # first_seen: when each hole was first seen; holes stepped over are forgotten
    for i, seq in enumerate(seqs):
        if seq != expected and now_ms - first_seen.setdefault(expected, now_ms) < grace_ms:
            return i
        expected = seq + 1
    for hole in [h for h in first_seen if h < expected]:
        del first_seen[hole]
    return len(seqs)
