"""The notify worker: case events from the outbox to the notification channels, each on its own cursor.

For each channel and pass: hold the channel's lease (a PostgreSQL session lock of its own; SQLite:
one process), read the events after the channel's cursor (stopping before a young hole in the
sequence), keep those the routes send to it, plan the messages its minute budget allows (one per
event, or one digest of them all), send them in order and move the cursor past each message the
channel accepted, skipped events included. It reads the outbox itself, not the webhook's delivery
marks, so notifications work with or without the webhook export. A failure keeps the cursor: a few
quick retries (tenacity), then the channel waits with capped exponential backoff while the others
go on (``start`` gives every channel its own thread). Delivery is at-least-once: a message accepted
just before a crash, its cursor not yet moved, is sent again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import structlog
from tenacity import retry_if_exception

from tickets.notify.channels import Channel, Message, build_channels
from tickets.notify.config import NotifyConfig
from tickets.notify.errors import ChannelFailed
from tickets.notify.message import Notice, notice_from
from tickets.notify.pacing import WINDOW_MS, RateLimiter, backoff_ms, plan, settled
from tickets.notify.routing import targets
from tickets.outbox import quick_retries
from tickets.store import TicketStore, wall_ms

log = structlog.get_logger("tickets.notify")
Due = tuple[Notice, tuple[str, ...]]  # an event for this channel, with the phones its routes name


@dataclass
class Lane:
    """A channel and what the worker keeps about it in memory: its budget and the holes it has seen."""

    channel: Channel
    limiter: RateLimiter
    holes: dict[int, int] = field(default_factory=dict)


def _quick(exc: BaseException) -> bool:
    return isinstance(exc, ChannelFailed) and not exc.rate_limited  # "too fast" is not helped by a retry


class NotifyWorker:
    """Delivers case events to notification channels, on threads or one pass at a time."""

    def __init__(
        self,
        store: TicketStore,
        cfg: NotifyConfig,
        channels: Sequence[Channel],
        clock: Callable[[], int] = wall_ms,
        tz: ZoneInfo | None = None,
    ) -> None:
        self.store, self.cfg, self.clock = store, cfg, clock
        self.tz = tz or store.config.policy.calendar.tz
        self.lanes = {c.name: Lane(c, RateLimiter(c.per_minute)) for c in channels}
        self.sent = dict.fromkeys(self.lanes, 0)  # messages the channel accepted
        self.failed = dict.fromkeys(self.lanes, 0)  # failed sends (after the quick retries)
        self.digested = dict.fromkeys(self.lanes, 0)  # events that went in digests
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def deliver_once(self) -> int:
        """Run one pass for every channel; return how many events were sent (alone or in digests)."""
        return sum(self.deliver_channel(name) for name in self.lanes)

    def deliver_channel(self, name: str) -> int:
        """Run one pass for one channel under its lease; return how many events were sent."""
        with self.store.notify_lease(name) as held:
            return self._pass(self.lanes[name]) if held else 0

    def _pass(self, lane: Lane) -> int:
        name, now = lane.channel.name, self.clock()
        cursor = self.store.notify_cursor(name, now - self.cfg.backfill_s * 1000)
        if cursor["next_attempt_ms"] > now:
            return 0  # backing off after a failure
        notices = self._read(lane, cursor["last_seq"], now)
        due = [(n, m) for n in notices if (m := targets(self.cfg.routes, n).get(name)) is not None]
        done, attempts = 0, cursor["attempts"]
        for items in plan(due, lane.limiter.available(now)):
            if not self._send(lane, items, attempts):
                return done
            done, attempts = done + len(items), 0
            self.store.notify_advance(name, _covered(items[-1][0], due, notices))
        if not due and notices:
            self.store.notify_advance(name, notices[-1].seq)  # nothing here for this channel: step over
        return done

    def _read(self, lane: Lane, after_seq: int, now: int) -> list[Notice]:
        rows = self.store.notify_events(after_seq, self.cfg.batch)
        usable = settled([r["seq"] for r in rows], after_seq, lane.holes, now, int(self.cfg.gap_grace_s * 1000))
        return [notice_from(r, self.tz, self.cfg.console_url) for r in rows[:usable]]

    def _send(self, lane: Lane, items: Sequence[Due], attempts: int) -> bool:
        message = Message(tuple(n for n, _ in items), _union(m for _, m in items))
        name = lane.channel.name
        try:
            for attempt in quick_retries(self.cfg.quick_retries, retry_if_exception(_quick)):
                with attempt:
                    lane.channel.send(message, self.clock())
        except ChannelFailed as exc:
            self._failed(lane, attempts + 1, exc)
            return False
        lane.limiter.spend(self.clock())
        self.sent[name] += 1
        if message.digest:
            self.digested[name] += len(items)
            log.info("notify.digest", channel=name, events=len(items), first_seq=items[0][0].seq)
        return True

    def _failed(self, lane: Lane, attempts: int, exc: ChannelFailed) -> None:
        name, now = lane.channel.name, self.clock()
        wait = backoff_ms(attempts, self.cfg.backoff_base_s, self.cfg.backoff_max_s)
        if exc.rate_limited:
            lane.limiter.saturate(now)
            wait = max(wait, WINDOW_MS)
        self.failed[name] += 1
        self.store.notify_failed(name, str(exc), now + wait)
        log.warning("notify.failed", channel=name, attempts=attempts, wait_ms=wait, error=str(exc))

    def backlog(self) -> dict[str, int]:
        """Return, per channel, how many outbox events lie after its cursor (0 before its first pass)."""
        rows = self.store.notify_cursors()
        return {name: self.store.notify_backlog(rows[name]["last_seq"]) if name in rows else 0 for name in self.lanes}

    def start(self, interval_s: float = 1.0) -> None:
        """Deliver on one background thread per channel, every interval_s, until stop()."""
        for name in self.lanes:
            thread = threading.Thread(target=self._run, args=(name, interval_s), name=f"notify-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, name: str, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.deliver_channel(name)
            except Exception as exc:
                log.error("notify.pass_failed", channel=name, error=repr(exc))
            self._stop.wait(interval_s)

    def stop(self) -> None:
        """Stop the threads and close the channels' connections."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        for lane in self.lanes.values():
            lane.channel.close()


def _covered(last: Notice, due: Sequence[Due], notices: Sequence[Notice]) -> int:
    """Return the cursor after a message ending with `last`: up to the next due event, else the whole read."""
    later = [n.seq for n, _ in due if n.seq > last.seq]
    return later[0] - 1 if later else notices[-1].seq


def _union(groups: Iterable[tuple[str, ...]]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return tuple(seen)


def notify_worker(
    store: TicketStore, environ: Mapping[str, str], clock: Callable[[], int] = wall_ms
) -> NotifyWorker | None:
    """Return a worker for the store's notify section (None when it names no channel); secrets from environ."""
    cfg = store.config.notify
    if not cfg.channels:
        return None
    return NotifyWorker(store, cfg, build_channels(cfg, environ), clock)
