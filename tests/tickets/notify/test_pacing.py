"""The pure parts of pacing: the minute budget, the digest plan, backoff, and holes in the outbox sequence."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tickets.notify.pacing import UNLIMITED, WINDOW_MS, RateLimiter, backoff_ms, plan, settled


def test_the_budget_is_a_sliding_minute() -> None:
    limiter = RateLimiter(3)
    assert limiter.available(0) == 3
    for t in (0, 10_000, 20_000):
        limiter.spend(t)
    assert limiter.available(59_999) == 0
    assert limiter.available(60_000) == 1  # the first message left the window
    assert limiter.available(80_000) == 3
    limiter.saturate(80_000)  # the provider said "too fast"
    assert limiter.available(139_999) == 0 and limiter.available(140_000) == 3
    assert RateLimiter(0).available(0) == UNLIMITED


def test_plan_sends_singly_within_the_budget_and_digests_beyond_it() -> None:
    assert plan([], 5) == [] and plan(["a"], 0) == []
    assert plan(["a", "b"], 2) == [["a"], ["b"]]
    assert plan(["a", "b", "c"], 2) == [["a", "b", "c"]]


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff_ms(n, 2.0, 10.0) for n in range(1, 6)] == [2_000, 4_000, 8_000, 10_000, 10_000]


def test_a_hole_holds_the_cursor_until_it_fills_or_grows_old() -> None:
    seen: dict[int, int] = {}
    assert settled([1, 2, 3], 0, seen, 0, 10_000) == 3 and seen == {}
    assert settled([1, 3, 4], 0, seen, 0, 10_000) == 1 and seen == {2: 0}  # 2 may still be committing
    assert settled([3, 4], 1, seen, 9_999, 10_000) == 0
    assert settled([3, 4], 1, seen, 10_000, 10_000) == 2 and seen == {}  # old enough: stepped over, forgotten
    assert settled([5, 9], 3, seen, 0, 0) == 2  # no grace: holes are stepped over at once


@settings(max_examples=200, deadline=None)
@given(
    per_minute=st.integers(1, 20),
    arrivals=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 90_000)), min_size=1, max_size=30),
)
def test_every_event_goes_once_and_no_minute_holds_more_than_the_budget(
    per_minute: int, arrivals: list[tuple[int, int]]
) -> None:
    limiter, now, next_id = RateLimiter(per_minute), 0, 0
    pending: list[int] = []
    covered: list[int] = []
    sent_at: list[int] = []
    for count, pause_ms in [*arrivals, (0, WINDOW_MS), (0, 0)]:  # events arrive, a pass runs, time passes
        pending += range(next_id, next_id + count)
        next_id += count
        messages = plan(pending, limiter.available(now))
        for message in messages:
            limiter.spend(now)
            sent_at.append(now)
            covered += message
        pending = pending[sum(map(len, messages)) :]
        now += pause_ms
    assert covered == list(range(next_id))  # all, once, in order
    assert all(sum(1 for t in sent_at if start <= t < start + WINDOW_MS) <= per_minute for start in sent_at)
