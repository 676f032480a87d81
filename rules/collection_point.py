"""Collection service (日产日清), point side: a collection point not served by its daily deadline.

Runs per collection point (key = point id), fed by two things: ``Served`` facts from
``collection_dwell`` (re-keyed by point) and the stream's watermark. Days are local calendar
days in the city's time zone::

    served(fact)       remember the latest local day served; CLEAR an open episode if the fact's
                       day is not older than the last day judged missed (proof of service)
    check(watermark)   once the watermark passes today's deadline with no service today:
                       OPEN "missed_collection" (WARNING), or, if the point is still unserved
                       from an earlier day, UPDATE the same episode (MAJOR, one more missed day)

One episode spans the run of missed days until a truck serves the point, so a point forgotten
for three days is one case that escalated, not three. Each day is judged once. The episode
starts at the first missed deadline (its id does not depend on tick cadence); OPEN and UPDATE
are stamped with the watermark, CLEAR with the service time but never earlier than the last of
them. A watermark that skips whole days (the pipeline was down) judges only the day it lands in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from devices.inventory import CollectionPoint
from devices.schedules import local_time, zone
from rules.alerts import Alert, Phase, Severity
from rules.collection_dwell import Served
from rules.episodes import build_alert
from rules.state import FlatState

RULE = "missed_collection"


@dataclass(frozen=True, slots=True)
class PointState(FlatState):
    """One point's latest service day, latest missed day and open episode, days as ISO dates."""

    watermark_ms: int | None = None
    served_day: str | None = None
    last_served_ms: int | None = None
    last_served_by: str | None = None
    missed_day: str | None = None
    missed_days: int = 0
    episode_start_ms: int | None = None
    last_alert_ms: int | None = None  # OPEN or UPDATE: a CLEAR is never stamped earlier


def deadline_ms(day: date, point: CollectionPoint, tz: str) -> int:
    """Return the epoch ms of a point's deadline on a local day."""
    return round(datetime.combine(day, point.deadline, tzinfo=zone(tz)).timestamp() * 1000)


def served(
    state: PointState, fact: Served, point: CollectionPoint, *, tz: str, matter_code: str
) -> tuple[PointState, list[Alert]]:
    """Record a service of the point; clear an open episode the service answers."""
    day = local_time(fact.ts_ms, tz).date().isoformat()
    new = replace(state, served_day=max(day, state.served_day or day))
    if state.last_served_ms is None or fact.ts_ms >= state.last_served_ms:
        new = replace(new, last_served_ms=fact.ts_ms, last_served_by=fact.vehicle_id)
    if state.last_alert_ms is None or state.missed_day is None or day < state.missed_day:
        return new, []
    on_time = fact.ts_ms < deadline_ms(date.fromisoformat(day), point, tz)
    evidence = _evidence(state, point) | {
        "served_ms": fact.ts_ms,
        "vehicle_id": fact.vehicle_id,
        "served_on_time": on_time,
    }
    closed = replace(new, missed_days=0, episode_start_ms=None, last_alert_ms=None)
    ts = max(fact.ts_ms, state.last_alert_ms)
    return closed, [_alert(Phase.CLEAR, state, point, ts, evidence, matter_code)]


def check(
    state: PointState, watermark_ms: int, point: CollectionPoint, tz: str, *, matter_code: str
) -> tuple[PointState, list[Alert]]:
    """Judge today's service once the watermark has passed the point's deadline."""
    if state.watermark_ms is not None and watermark_ms <= state.watermark_ms:
        return state, []
    new = replace(state, watermark_ms=watermark_ms)
    judged = _judged_day(state, watermark_ms, point, tz)
    if judged is None:
        return new, []
    day, due = judged.isoformat(), deadline_ms(judged, point, tz)
    if (state.served_day or "") >= day or state.missed_day == day:
        return new, []
    phase = Phase.OPEN if state.episode_start_ms is None else Phase.UPDATE
    missed = replace(
        new,
        missed_day=day,
        missed_days=state.missed_days + 1,
        episode_start_ms=due if state.episode_start_ms is None else state.episode_start_ms,
        last_alert_ms=watermark_ms,
    )
    evidence = _evidence(missed, point)
    return missed, [_alert(phase, missed, point, watermark_ms, evidence, matter_code)]


def _judged_day(state: PointState, watermark_ms: int, point: CollectionPoint, tz: str) -> date | None:
    """Return the day whose deadline the watermark has passed: today's, or yesterday's when the
    watermark jumped over midnight since the last check (ticks are coarse; a 23:59 deadline must
    not be skipped)."""
    today = local_time(watermark_ms, tz).date()
    if watermark_ms >= deadline_ms(today, point, tz):
        return today
    yesterday = today - timedelta(days=1)
    if state.watermark_ms is not None and state.watermark_ms < deadline_ms(yesterday, point, tz):
        return yesterday
    return None


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


def _alert(
    phase: Phase,
    state: PointState,
    point: CollectionPoint,
    ts_ms: int,
    evidence: dict[str, Any],
    matter_code: str,
) -> Alert:
    """Build the alert of this phase at the point, MAJOR from the second missed day."""
    start = state.episode_start_ms
    assert start is not None
    severity = Severity.MAJOR if state.missed_days >= 2 else Severity.WARNING
    return build_alert(
        RULE,
        phase,
        subject=point.point_id,
        ts_ms=ts_ms,
        start_ms=start,
        lon=point.lon,
        lat=point.lat,
        severity=severity,
        matter_code=matter_code,
        evidence=evidence,
    )
