"""KPIs of the closed loop and company violation scores (退出机制), as pure functions.

处置率 handled rate = handled / dispatched; 按期处置率 on-time rate = handled within the deadline
/ handled; 结案率 closed rate = closed / registered (立案); mean working hours per stage from the
audit trail. Voided cases count nowhere. Grouped by responsible unit and by company.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from tickets.calendar import WorkingCalendar
from tickets.lifecycle import Stage

REGISTERED_OR_LATER = frozenset(
    {Stage.REGISTERED, Stage.DISPATCHED, Stage.HANDLED, Stage.VERIFIED, Stage.CLOSED, Stage.PARKED}
)
HANDLED_OR_LATER = frozenset({Stage.HANDLED, Stage.VERIFIED, Stage.CLOSED})


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What the KPIs need of one case."""

    case_id: int
    stage: Stage
    unit: str | None
    company: str | None
    dispatched: bool
    handled_on_time: bool | None
    overdue: bool
    stage_spans: tuple[tuple[Stage, int], ...] = ()  # (stage, working ms spent) for finished stays


@dataclass(frozen=True, slots=True)
class Kpis:
    """Counts and rates of one group of cases."""

    total: int
    open: int
    overdue: int
    dispatched: int
    handled: int
    on_time: int
    registered: int
    closed: int
    mean_stage_hours: dict[str, float] = field(default_factory=dict)

    @property
    def handled_rate(self) -> float | None:
        """Return 处置率."""
        return _rate(self.handled, self.dispatched)

    @property
    def on_time_rate(self) -> float | None:
        """Return 按期处置率."""
        return _rate(self.on_time, self.handled)

    @property
    def closed_rate(self) -> float | None:
        """Return 结案率."""
        return _rate(self.closed, self.registered)

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict with the rates."""
        return {
            "total": self.total,
            "open": self.open,
            "overdue": self.overdue,
            "dispatched": self.dispatched,
            "handled": self.handled,
            "on_time": self.on_time,
            "registered": self.registered,
            "closed": self.closed,
            "handled_rate": self.handled_rate,
            "on_time_rate": self.on_time_rate,
            "closed_rate": self.closed_rate,
            "mean_stage_hours": self.mean_stage_hours,
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def stage_spans(history: Sequence[tuple[int, Stage]], calendar: WorkingCalendar) -> tuple[tuple[Stage, int], ...]:
    """Return (stage, working ms) for each finished stay, from (at_ms, stage entered) in order."""
    moves = [(at, st) for i, (at, st) in enumerate(history) if i == 0 or st is not history[i - 1][1]]
    return tuple((st, calendar.working_ms_between(at, nxt)) for (at, st), (nxt, _) in pairwise(moves))


def compute(facts: Iterable[CaseFacts]) -> Kpis:
    """Return the KPIs of a group of cases."""
    live = [f for f in facts if f.stage is not Stage.VOID]
    handled = [f for f in live if f.stage in HANDLED_OR_LATER]
    spans: dict[str, list[int]] = defaultdict(list)
    for f in live:
        for stage, ms in f.stage_spans:
            spans[stage.value].append(ms)
    return Kpis(
        total=len(live),
        open=sum(f.stage not in {Stage.CLOSED, Stage.PARKED} for f in live),
        overdue=sum(f.overdue for f in live),
        dispatched=sum(f.dispatched for f in live),
        handled=len(handled),
        on_time=sum(f.handled_on_time is True for f in handled),
        registered=sum(f.stage in REGISTERED_OR_LATER for f in live),
        closed=sum(f.stage is Stage.CLOSED for f in live),
        mean_stage_hours={s: round(sum(v) / len(v) / 3_600_000, 2) for s, v in sorted(spans.items())},
    )


def by(facts: Iterable[CaseFacts], key: Callable[[CaseFacts], str | None]) -> dict[str, Kpis]:
    """Return the KPIs per group (cases without a key value go under '未指定')."""
    groups: dict[str, list[CaseFacts]] = defaultdict(list)
    for f in facts:
        groups[key(f) or "未指定"].append(f)
    return {k: compute(v) for k, v in sorted(groups.items())}


CONFIRMED = frozenset({Stage.REGISTERED, Stage.DISPATCHED, Stage.HANDLED, Stage.VERIFIED, Stage.CLOSED, Stage.PARKED})
"""Stages of a case the bureau has registered (立案) as a violation: what counts against a company."""


@dataclass(frozen=True, slots=True)
class Offence:
    """One case counted against a company."""

    company: str
    severity: str
    matter_code: str
    discovered_ms: int
    stage: Stage


@dataclass(frozen=True, slots=True)
class CompanyScore:
    """A company's violation points in the window and whether it crossed the threshold."""

    company: str
    points: int
    cases: int
    over_threshold: bool  # at or over the suspension threshold (the sweep then suspends it: tickets/sanctions.py)


def points_of(offence: Offence, points: Mapping[str, int], matter_points: Mapping[str, int]) -> int:
    """Return what one case costs its company: its matter's points, else its severity's (1 if unlisted)."""
    return matter_points.get(offence.matter_code, points.get(offence.severity, 1))


def company_scores(
    offences: Iterable[Offence],
    now_ms: int,
    window_days: int,
    points: Mapping[str, int],
    matter_points: Mapping[str, int],
    suspend_at: int,
) -> list[CompanyScore]:
    """Return every company's points over the window, worst first: confirmed cases only (立案 or later, not
    作废), so an alert nobody has looked at, or one found to be false, costs a company nothing."""
    since = now_ms - window_days * 86_400_000
    totals: dict[str, list[int]] = defaultdict(list)
    for o in offences:
        if o.stage not in CONFIRMED or o.discovered_ms < since:
            continue
        totals[o.company].append(points_of(o, points, matter_points))
    scores = [CompanyScore(c, sum(p), len(p), sum(p) >= suspend_at) for c, p in totals.items()]
    return sorted(scores, key=lambda s: (-s.points, s.company))
