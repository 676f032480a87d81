"""Site minus background PM10: a site's closed windows joined with its background station's, per site key.

Some provinces judge a construction site's dust as the site's mean minus the local background
station's mean over the same window. Both monitors fold their readings into the same event-time
windows in stage 1 (``pm10.fold``); each closed window becomes a ``pm10_window`` fact on the key
``pm10:<site_id>`` (the station's fanned out to every site judged against it). This state machine,
one per site key, judges the site's windows oldest first with ``pm10.judge_window`` (the one
ladder, daily count and episode of the absolute rule)::

    site window + station window of the same start         judged: site mean - station mean
    site window, watermark >= end + grace, no station one   judged alone (evidence background: missing)
    station window, watermark >= end + grace, no site one   dropped (a silent site has no window)

A site window is judged only once every older site window has been, so the ladder sees windows
in order whichever monitor's fact arrives first; a fact for a window not newer than the last one
judged, or arriving once the watermark is past its end + grace, is late (a site window is then
judged alone, a station window dropped). Alerts are stamped with the later closing time of the
pair (end + grace when judged alone), never earlier than the previous one, so neither the
arrival order nor the tick cadence changes what is emitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from rules.alerts import Alert
from rules.catalog import WATERMARK, RuleSpec
from rules.facts import Fact
from rules.pm10 import Emitter, Pm10Params, Pm10State, judge_window
from rules.windows import WindowMean

RULE = "pm10_join"  # the name of the key's state; its alerts are pm10's
FACT_KIND = "pm10_window"
KEY_PREFIX = "pm10:"
Role = Literal["site", "background"]


def fact_key(site_id: str) -> str:
    """Return the fact key of a site judged against a background station."""
    return f"{KEY_PREFIX}{site_id}"


def window_fact(site_id: str, role: Role, device_id: str, window: WindowMean, closed_ms: int) -> Fact:
    """Return the fact that a monitor's window closed (at ``closed_ms``, the reading that closed it)."""
    return Fact(
        FACT_KIND, fact_key(site_id), closed_ms, {"role": role, "device_id": device_id, "window": window.to_dict()}
    )


@dataclass(frozen=True, slots=True)
class Closed:
    """A closed window of one monitor and when it closed."""

    window: WindowMean
    closed_ms: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {"window": self.window.to_dict(), "closed_ms": self.closed_ms}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Closed:
        """Rebuild from the dict ``to_dict`` made."""
        return cls(WindowMean.from_dict(d["window"]), d["closed_ms"])


@dataclass(frozen=True, slots=True)
class JoinState:
    """One site's ladder state and the closed windows waiting for their other half, oldest first."""

    ladder: Pm10State = field(default_factory=Pm10State)
    sites: tuple[Closed, ...] = ()
    backgrounds: tuple[Closed, ...] = ()
    watermark_ms: int | None = None
    judged_start_ms: int | None = None  # the last site window judged: nothing older is accepted
    stamp_ms: int | None = None  # the last judgement's stamp: later alerts are never earlier

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for a faust table)."""
        return {
            "ladder": self.ladder.to_dict(),
            "sites": [c.to_dict() for c in self.sites],
            "backgrounds": [c.to_dict() for c in self.backgrounds],
            "watermark_ms": self.watermark_ms,
            "judged_start_ms": self.judged_start_ms,
            "stamp_ms": self.stamp_ms,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> JoinState:
        """Rebuild the state from the dict ``to_dict`` made."""
        return cls(
            Pm10State.from_dict(d["ladder"]),
            tuple(Closed.from_dict(c) for c in d["sites"]),
            tuple(Closed.from_dict(c) for c in d["backgrounds"]),
            d["watermark_ms"],
            d["judged_start_ms"],
            d["stamp_ms"],
        )


@dataclass(frozen=True, slots=True)
class Join:
    """What judging one site's key needs: its alerts' emitter, its station and the grace."""

    emit: Emitter
    background_device_id: str
    grace_ms: int


def on_fact(state: JoinState, fact: Fact, join: Join) -> tuple[JoinState, list[Alert]]:
    """Take a monitor's closed window; judge every site window now complete, oldest first."""
    closed = Closed(WindowMean.from_dict(fact.data["window"]), fact.ts_ms)
    if state.judged_start_ms is not None and closed.window.start_ms <= state.judged_start_ms:
        return state, []  # late: its window has been judged
    if fact.data["role"] == "site":
        return _drain(replace(state, sites=_insert(state.sites, closed)), join)
    if _expired(state, closed, join):
        return state, []  # too late to count: the site window was (or will be) judged alone
    return _drain(replace(state, backgrounds=_insert(state.backgrounds, closed)), join)


def check(state: JoinState, watermark_ms: int, join: Join) -> tuple[JoinState, list[Alert]]:
    """Advance to a watermark: judge site windows that waited past end + grace alone, drop stale station ones."""
    if state.watermark_ms is not None and watermark_ms <= state.watermark_ms:
        return state, []
    new, alerts = _drain(replace(state, watermark_ms=watermark_ms), join)
    return replace(new, backgrounds=tuple(b for b in new.backgrounds if not _expired(new, b, join))), alerts


def _drain(state: JoinState, join: Join) -> tuple[JoinState, list[Alert]]:
    """Judge the oldest site windows while each has its station's window or has waited long enough."""
    alerts: list[Alert] = []
    while state.sites:
        head = state.sites[0]
        background = next((b for b in state.backgrounds if b.window.start_ms == head.window.start_ms), None)
        if background is None and not _expired(state, head, join):
            break
        state, out = _judge(state, head, background, join)
        alerts += out
    return state, alerts


def _judge(state: JoinState, site: Closed, background: Closed | None, join: Join) -> tuple[JoinState, list[Alert]]:
    """Judge one site window against its station's window, or alone when it has none."""
    w = site.window
    note: dict[str, Any] = {"background_device_id": join.background_device_id}
    if background is None:
        ts, mean = max(site.closed_ms, w.end_ms + join.grace_ms), None
        note["background"] = "missing"
    else:
        ts, mean = max(site.closed_ms, background.closed_ms), background.window.mean
        note.update(background="present", background_readings=background.window.count)
    ts = max(ts, state.stamp_ms or ts)
    ladder, alerts = judge_window(state.ladder, w, mean, ts, join.emit, note)
    rest = tuple(b for b in state.backgrounds if b.window.start_ms > w.start_ms)
    return replace(
        state, ladder=ladder, sites=state.sites[1:], backgrounds=rest, judged_start_ms=w.start_ms, stamp_ms=ts
    ), alerts


def _expired(state: JoinState, closed: Closed, join: Join) -> bool:
    """Tell whether the watermark has passed a window's end + grace."""
    return state.watermark_ms is not None and state.watermark_ms >= closed.window.end_ms + join.grace_ms


def _insert(pending: tuple[Closed, ...], closed: Closed) -> tuple[Closed, ...]:
    """Add a closed window in start order; a redelivered one (same start) changes nothing."""
    if any(c.window.start_ms == closed.window.start_ms for c in pending):
        return pending
    return tuple(sorted((*pending, closed), key=lambda c: c.window.start_ms))


SPEC = RuleSpec(
    name=RULE,
    detects="工地扬尘, stage 2: a site's PM10 window mean minus its background station's, judged on the `pm10` ladder",
    reads=(FACT_KIND, WATERMARK),
    state=JoinState,
    severity="(its alerts are `pm10`'s)",
    params=Pm10Params,
    params_key="pm10",
    computed="state per `pm10:<site_id>` key; `on_fact(state, Fact, join)` per closed window (site or station); "
    "`check(state, watermark_ms, join)` per watermark",
    follows="as `pm10`, with `use_background`: the site's excess over the area's station [S10]",
)
