"""Late truck positions (blind-area uploads, JT/T 808 0x0704 补传): judged in event time, apart from the live rules.

A position is *late* when it is not newer than the newest fix its terminal sent before (the engine
has already dropped redeliveries: ``seq`` and time both not newer). The live rules only move
forward in event time and never see it; ``rules.pipelines.vehicle`` routes it here instead:

- **Gaps.** On the live path, a real-time fix more than ``GAP_REPORTS`` report intervals
  (``City.meta.reporting.vehicle_s``) after the previous one records a *gap* (previous fix, this
  fix) with its *seed*: the states of the rules a late fix is judged by (``vehicle.LATE_JUDGED``)
  as they were at the gap's start (idle ones left out: they start afresh alike), and ``owned``:
  which of their episodes under way then the live rules reported (open at the start, or opened by
  the fix that ended the gap). The newest ``MAX_GAPS`` are kept. A blind area leaves exactly such a
  gap in the real-time track.
- **Runs.** A late fix strictly inside a remembered gap joins the gap's *run*: copies of the judged
  rules' states, started from the seed, fed the gap's late fixes in event-time order, so the rules
  judge them as if they had arrived on time (up to the gap's end). A late fix older than the run's
  first one starts the run again from the seed (an earlier chunk of the upload came second); one
  within the run's span, or in no remembered gap (a resend of a fix already judged live, a gap
  forgotten), is not judged and only counted (``unjudged``).
- **Trust.** The run has its own GPS anomaly check, seeded with the last trusted fix before the gap,
  so speeds are computed forward in time only; an implausible late fix is kept from the run's
  other rules, without an alert (``untrusted``).
- **Alerts** (``route``). An episode that starts inside the gap is a *late* episode, never a live
  one: its own id (``alerts.late_alert_id``), OPEN and CLEAR together at the late fix that proves
  it (a past violation to follow up, like a dirty truck's), a later escalation as UPDATE and CLEAR;
  the run's own CLEAR is dropped. The episode under way when the gap began belongs to the live
  rule: while the live rule is still in it, a late fix that proves it (or raises its severity)
  opens (or updates) it under its live id, stamped no earlier than the live rule's newest fix, and
  the live state is marked reported, so the live rule clears it; once the live rule has ended it,
  it is dropped if the live rule reported it (``owned``), else it is a late episode. Every alert
  of a late fix carries ``late: true``, ``fix_ts_ms`` (the late fix) and the gap's bounds.
- **Proofs.** The vehicle pipeline also lets a trusted late fix end the live trip it shows
  delivered (``trip_delivery.late_end``) and lend the live site visit a wash the run proved
  (``dirty_truck.late_fix``): both are proof whenever they are heard of. A dirty-truck exit held
  for a data gap is released by such a wash, or judged (marked late) once the run has *filled*
  the gap (``Run.filled``: trusted late fixes from its start to its end, no stretch without one
  over the gap threshold) without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from rules.alerts import Alert, Phase, Severity, late_alert_id
from rules.catalog import state_types
from rules.illegal_dumping import IllegalDumpingState

STATE = "late_fixes"  # the state slot of a terminal's gaps and late run (only once it had a gap)
GAP_REPORTS = 3  # a real-time interval over this many report intervals is a gap (missed reports)
MAX_GAPS = 3  # gaps remembered per terminal (a blind upload follows its gap within minutes)
_RANK = list(Severity)


def _states_to_dict(states: Mapping[str, Any]) -> dict[str, Any]:
    return {name: s.to_dict() for name, s in states.items()}


def _states_from_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    return {name: state_types()[name].from_dict(s) for name, s in d.items()}


@dataclass(frozen=True, slots=True)
class Gap:
    """A hole in the real-time track: its bounds, the judged rules' states at its start, what the live rules reported."""

    start_ms: int
    end_ms: int
    seed: Mapping[str, Any]
    owned: tuple[str, ...] = ()

    def contains(self, ts_ms: int) -> bool:
        """Tell whether a fix lies strictly inside the gap (a fix at a bound was judged live)."""
        return self.start_ms < ts_ms < self.end_ms


@dataclass(frozen=True, slots=True)
class Run:
    """The late fixes of one gap judged so far: their span and the rule states after them."""

    gap_start_ms: int
    first_ms: int
    last_ms: int
    states: Mapping[str, Any]
    covered_ms: int | None = None  # the run's newest trusted fix (None: none yet)
    hole_ms: int | None = None  # the longest stretch without a trusted fix, from the gap's start to covered_ms

    def covering(self, ts_ms: int) -> Run:
        """Return the run having judged a trusted fix at ``ts_ms`` (its newest)."""
        since = self.gap_start_ms if self.covered_ms is None else self.covered_ms
        return replace(self, covered_ms=ts_ms, hole_ms=max(self.hole_ms or 0, ts_ms - since))

    def filled(self, gap: Gap, tolerance_ms: int) -> bool:
        """Tell whether the run's trusted fixes cover the whole gap: no stretch without one over ``tolerance_ms``."""
        return (
            self.covered_ms is not None
            and self.hole_ms is not None
            and self.hole_ms <= tolerance_ms
            and gap.end_ms - self.covered_ms <= tolerance_ms
        )


@dataclass(frozen=True, slots=True)
class LateState:
    """One terminal's remembered gaps, its current late run, and counters of what late fixes did."""

    gaps: tuple[Gap, ...] = ()
    run: Run | None = None
    judged: int = 0
    unjudged: int = 0
    untrusted: int = 0

    def gap_of(self, ts_ms: int) -> Gap | None:
        """Return the remembered gap a late fix lies in, if any."""
        return next((g for g in self.gaps if g.contains(ts_ms)), None)

    def run_for(self, gap: Gap, ts_ms: int) -> Run | None:
        """Return the run a late fix of ``gap`` continues or starts; None if its span already covers the fix."""
        run = self.run
        if run is None or run.gap_start_ms != gap.start_ms or ts_ms < run.first_ms:
            return Run(gap.start_ms, ts_ms, ts_ms, dict(gap.seed))
        if ts_ms > run.last_ms:
            return run
        return None

    def with_gap(self, gap: Gap) -> LateState:
        """Remember a new gap (the newest ``MAX_GAPS`` are kept)."""
        return replace(self, gaps=(*self.gaps, gap)[-MAX_GAPS:])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        gaps = [
            {"start_ms": g.start_ms, "end_ms": g.end_ms, "seed": _states_to_dict(g.seed), "owned": list(g.owned)}
            for g in self.gaps
        ]
        run = (
            None
            if self.run is None
            else {
                "gap_start_ms": self.run.gap_start_ms,
                "first_ms": self.run.first_ms,
                "last_ms": self.run.last_ms,
                "states": _states_to_dict(self.run.states),
                "covered_ms": self.run.covered_ms,
                "hole_ms": self.run.hole_ms,
            }
        )
        return {"gaps": gaps, "run": run, "judged": self.judged, "unjudged": self.unjudged, "untrusted": self.untrusted}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LateState:
        """Rebuild the state from the dict ``to_dict`` made."""
        gaps = tuple(
            Gap(g["start_ms"], g["end_ms"], _states_from_dict(g["seed"]), tuple(g["owned"])) for g in d["gaps"]
        )
        r = d["run"]
        run = (
            None
            if r is None
            else Run(
                r["gap_start_ms"],
                r["first_ms"],
                r["last_ms"],
                _states_from_dict(r["states"]),
                r.get("covered_ms"),
                r.get("hole_ms"),
            )
        )  # a run written before: never filled
        return cls(gaps, run, d["judged"], d["unjudged"], d["untrusted"])


def seed_of(states: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Return the states a gap's run starts from: those of ``names`` not idle (an idle one starts afresh alike)."""
    return {
        name: s for name in names if (s := states.get(name)) is not None and replace(s, last_ts_ms=None) != type(s)()
    }


def episode(state: Any) -> tuple[int | None, bool]:
    """Return (start, reported) of the episode a rule state is in; (None, False) when idle."""
    if state is None:
        return None, False
    if isinstance(state, IllegalDumpingState):
        return state.stop_start_ms, state.severity is not None
    return getattr(state, "episode_start_ms", None), bool(getattr(state, "is_open", False))


def owned(seed: Mapping[str, Any], live: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the rules whose episode under way at a gap's start the live rule reported (then, or now)."""
    names = []
    for name, state in seed.items():
        start, was_open = episode(state)
        if start is not None and (was_open or episode(live.get(name)) == (start, True)):
            names.append(name)
    return tuple(names)


def route(alert: Alert, gap: Gap, live: Any, run_state: Any) -> tuple[list[Alert], Any]:
    """Map an alert of a late run; return the alerts to publish and the live rule's state (maybe marked reported)."""
    start = alert.episode_start_ms
    if episode(gap.seed.get(alert.rule))[0] == start:  # under way when the gap began: the live rule's episode
        live_start, live_open = episode(live)
        if live_start == start:  # the live rule is still in it and will end it
            if alert.phase is Phase.CLEAR or (live_open and not _raises(alert, live)):
                return [], live
            phase = Phase.UPDATE if live_open else Phase.OPEN
            ts_ms = max(alert.ts_ms, live.last_ts_ms)  # the live episode's phases stay in time order
            merged = replace(alert, phase=phase, ts_ms=ts_ms)
            return [mark(merged, gap, alert.ts_ms)], _mark_open(live, run_state)
        if alert.rule in gap.owned:  # the live rule reported it, and ended it
            return [], live
    if alert.phase is Phase.CLEAR:  # a late episode was cleared when it opened
        return [], live
    opened = mark(replace(alert, alert_id=late_alert_id(alert.rule, alert.subject, start)), gap, alert.ts_ms)
    return [opened, replace(opened, phase=Phase.CLEAR)], live


def mark(alert: Alert, gap: Gap, fix_ts_ms: int) -> Alert:
    """Mark an alert as judged from late fixes: the fix that proved it and the gap they filled."""
    evidence = {
        **alert.evidence,
        "late": True,
        "fix_ts_ms": fix_ts_ms,
        "gap_start_ms": gap.start_ms,
        "gap_end_ms": gap.end_ms,
    }
    return replace(alert, evidence=evidence)


def _raises(alert: Alert, live: Any) -> bool:
    """Tell whether a late alert raises the severity the live episode was reported at (illegal dumping)."""
    current = Severity(live.severity) if isinstance(live, IllegalDumpingState) and live.severity else alert.severity
    return _RANK.index(alert.severity) > _RANK.index(current)


def _mark_open(live: Any, run_state: Any) -> Any:
    """Return the live state with its episode reported (so the live rule does not open it again, and clears it)."""
    if isinstance(live, IllegalDumpingState):
        return replace(live, severity=run_state.severity)
    return replace(live, is_open=True)
