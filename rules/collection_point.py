"""Collection service (日产日清), point side: a collection point not served by its daily deadline.

Runs per collection point (key = point id), fed by two things: ``Served`` facts from
``collection_dwell`` (re-keyed by point) and the stream's watermark. Days are local calendar
days in the city's time zone. Everything is applied in event-time order, whatever order the
facts arrive in (in the stack, service facts and the watermark come from different partitions)::

    served(fact)       a service at or behind the watermark is applied at once; one ahead of it
                       waits (``pending``) until the watermark passes it
    check(watermark)   walks event time from the last watermark to this one: every service and
                       every deadline passed, in time order (a service at the deadline is late)
    a service          remembers the latest local day served; CLEARs an open episode if its day
                       is not older than the last day judged missed (proof of service)
    a deadline         the day unserved: OPEN "missed_collection" (WARNING), or, if the point is
                       still unserved from an earlier day, UPDATE the same episode (MAJOR)

One episode spans the run of missed days until a truck serves the point, so a point forgotten
for three days is one case that escalated, not three. Each day is judged once, and only days
watched: the first watermark judges nothing (a pipeline started after a deadline did not see
that day's service), and a watermark that jumps ahead judges at most ``MAX_DAYS_JUDGED`` days.
The episode starts at the first missed deadline (its id does not depend on tick cadence); OPEN
and UPDATE are stamped with the watermark, CLEAR with the service time but never earlier than
the last of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Self

from devices.inventory import CollectionPoint
from devices.schedules import local_time, zone
from rules.alerts import Alert, Phase, Severity
from rules.catalog import WATERMARK, RuleSpec
from rules.collection_dwell import FACT_KIND, Served
from rules.episodes import build_alert
from rules.state import FlatState

RULE = "missed_collection"
MAX_PENDING = 64  # services ahead of the watermark kept (a truck serves a point a few times a day)
MAX_DAYS_JUDGED = 7  # deadlines one watermark may judge (a long outage is not a week of cases)


@dataclass(frozen=True, slots=True)
class PointState(FlatState):
    """One point's latest service day, latest missed day, open episode and services not yet applied."""

    watermark_ms: int | None = None
    served_day: str | None = None
    last_served_ms: int | None = None
    last_served_by: str | None = None
    missed_day: str | None = None
    missed_days: int = 0
    episode_start_ms: int | None = None
    last_alert_ms: int | None = None  # OPEN or UPDATE: a CLEAR is never stamped earlier
    pending: tuple[tuple[int, str], ...] = ()  # (ts_ms, vehicle id) of services ahead of the watermark

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Rebuild the state from the dict ``to_dict`` made (JSON turned the pairs into lists)."""
        pending = tuple((int(ts), str(vehicle)) for ts, vehicle in d.get("pending", ()))
        return cls(**{**d, "pending": pending})


@dataclass(frozen=True, slots=True)
class _Point:
    """What every alert of one call shares."""

    point: CollectionPoint
    tz: str
    matter_code: str

    def due(self, day: date) -> int:
        """Return the point's deadline on a local day."""
        return deadline_ms(day, self.point, self.tz)


def deadline_ms(day: date, point: CollectionPoint, tz: str) -> int:
    """Return the epoch ms of a point's deadline on a local day."""
    return round(datetime.combine(day, point.deadline, tzinfo=zone(tz)).timestamp() * 1000)


def served(
    state: PointState, fact: Served, point: CollectionPoint, *, tz: str, matter_code: str
) -> tuple[PointState, list[Alert]]:
    """Record a service of the point: apply it if the watermark has passed it, else keep it for later."""
    if state.watermark_ms is None or fact.ts_ms > state.watermark_ms:
        pending = tuple(sorted({*state.pending, (fact.ts_ms, fact.vehicle_id)}))[:MAX_PENDING]
        return replace(state, pending=pending), []
    return _apply_service(state, fact.ts_ms, fact.vehicle_id, _Point(point, tz, matter_code))


def check(
    state: PointState, watermark_ms: int, point: CollectionPoint, tz: str, *, matter_code: str
) -> tuple[PointState, list[Alert]]:
    """Advance the point to a watermark: apply the services and judge the deadlines it passed, in time order."""
    if state.watermark_ms is not None and watermark_ms <= state.watermark_ms:
        return state, []
    at = _Point(point, tz, matter_code)
    due_now = [(ts, vehicle) for ts, vehicle in state.pending if ts <= watermark_ms]
    deadlines = [] if state.watermark_ms is None else _deadlines(state.watermark_ms, watermark_ms, at)
    steps = sorted([(ts, 1, vehicle) for ts, vehicle in due_now] + [(ts, 0, "") for ts in deadlines])
    new = replace(state, watermark_ms=watermark_ms, pending=tuple(p for p in state.pending if p[0] > watermark_ms))
    alerts: list[Alert] = []
    for ts, is_service, vehicle in steps:  # a deadline sorts before a service at the same instant
        new, out = _apply_service(new, ts, vehicle, at) if is_service else _judge(new, ts, watermark_ms, at)
        alerts += out
    return new, alerts


def _deadlines(after_ms: int, until_ms: int, at: _Point) -> list[int]:
    """Return the deadlines in (after, until], at most the last ``MAX_DAYS_JUDGED``."""
    last = local_time(until_ms, at.tz).date()
    days = [last - timedelta(days=n) for n in range(MAX_DAYS_JUDGED)]
    return sorted(d for d in map(at.due, days) if after_ms < d <= until_ms)


def _apply_service(state: PointState, ts_ms: int, vehicle: str, at: _Point) -> tuple[PointState, list[Alert]]:
    """A service in event-time order: remember it; clear an open episode it answers."""
    day = local_time(ts_ms, at.tz).date().isoformat()
    new = replace(state, served_day=max(day, state.served_day or day))
    if state.last_served_ms is None or ts_ms >= state.last_served_ms:
        new = replace(new, last_served_ms=ts_ms, last_served_by=vehicle)
    if state.last_alert_ms is None or state.missed_day is None or day < state.missed_day:
        return new, []
    on_time = ts_ms < at.due(date.fromisoformat(day))
    evidence = _evidence(state, at.point) | {"served_ms": ts_ms, "vehicle_id": vehicle, "served_on_time": on_time}
    closed = replace(new, missed_days=0, episode_start_ms=None, last_alert_ms=None)
    ts = max(ts_ms, state.last_alert_ms)
    return closed, [_alert(Phase.CLEAR, state, at, ts, evidence)]


def _judge(state: PointState, due_ms: int, watermark_ms: int, at: _Point) -> tuple[PointState, list[Alert]]:
    """A deadline in event-time order: open or extend the episode if the day went unserved."""
    day = local_time(due_ms, at.tz).date().isoformat()
    if (state.served_day or "") >= day or state.missed_day == day:
        return state, []
    phase = Phase.OPEN if state.episode_start_ms is None else Phase.UPDATE
    missed = replace(
        state,
        missed_day=day,
        missed_days=state.missed_days + 1,
        episode_start_ms=due_ms if state.episode_start_ms is None else state.episode_start_ms,
        last_alert_ms=watermark_ms,
    )
    return missed, [_alert(phase, missed, at, watermark_ms, _evidence(missed, at.point))]


def _evidence(state: PointState, point: CollectionPoint) -> dict[str, Any]:
    """Return what every phase reports: the deadline, the missed days, the last service."""
    return {
        "point_id": point.point_id,
        "deadline": point.deadline.strftime("%H:%M"),
        "missed_day": state.missed_day,
        "missed_days": state.missed_days,
        "last_served_ms": state.last_served_ms,
        "last_served_by": state.last_served_by,
    }


def _alert(phase: Phase, state: PointState, at: _Point, ts_ms: int, evidence: dict[str, Any]) -> Alert:
    """Build the alert of this phase at the point, MAJOR from the second missed day."""
    start = state.episode_start_ms
    assert start is not None
    severity = Severity.MAJOR if state.missed_days >= 2 else Severity.WARNING
    return build_alert(
        RULE,
        phase,
        subject=at.point.point_id,
        ts_ms=ts_ms,
        start_ms=start,
        lon=at.point.lon,
        lat=at.point.lat,
        severity=severity,
        matter_code=at.matter_code,
        evidence=evidence,
    )


SPEC = RuleSpec(
    name=RULE,
    detects="日产日清: a collection point not served by its daily deadline",
    reads=(
        FACT_KIND,
        WATERMARK,
    ),
    state=PointState,
    matter="06101",
    severity="WARNING → MAJOR (second day missed)",
    computed="state per point; `served(state, Served, point, *, tz, matter_code)` per fact; `check(state, watermark_ms, point, tz, *, matter_code)` per watermark",
    follows="日产日清: every point cleared every day by its deadline, in the city's 市容环境卫生 / 生活垃圾管理 regulations and the sanitation contract (local; check the city's edition) [S9]",
)
