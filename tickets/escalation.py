"""督办: automatic supervision of overdue cases, in levels that rise with working time overdue.

A case whose current stage has a deadline that passed is overdue. Each configured level
applies once the case is overdue by at least its ``after`` working time (level 1 typically at
once). ``due`` returns the commands the system should issue now; issuing them is the caller's
job (the store applies them in a transaction, so several replicas sweeping at once is harmless).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tickets.calendar import Duration, WorkingCalendar
from tickets.lifecycle import OPEN_STAGES, Action, Case, Command


@dataclass(frozen=True, slots=True)
class Level:
    """One 督办 level: its number, its name and the working time overdue that triggers it."""

    level: int
    name: str
    after: Duration


def overdue_ms(case: Case, now_ms: int, calendar: WorkingCalendar) -> int:
    """Return the working time by which the case's current stage is overdue (0 if not)."""
    if case.stage not in OPEN_STAGES or case.deadline_ms is None or now_ms <= case.deadline_ms:
        return 0
    return max(1, calendar.working_ms_between(case.deadline_ms, now_ms))


def due_level(case: Case, now_ms: int, levels: Iterable[Level], calendar: WorkingCalendar) -> int:
    """Return the highest supervision level the case should be at now (0: none)."""
    late = overdue_ms(case, now_ms, calendar)
    if late <= 0:
        return 0
    return max((lv.level for lv in levels if late >= max(1, calendar.to_ms(lv.after))), default=0)


def due(
    cases: Iterable[Case], now_ms: int, levels: tuple[Level, ...], calendar: WorkingCalendar
) -> list[tuple[Case, Command]]:
    """Return (case, supervise command) for every case below the level it is due for."""
    out: list[tuple[Case, Command]] = []
    by_level = {lv.level: lv for lv in levels}
    for case in cases:
        level = due_level(case, now_ms, levels, calendar)
        if level > case.supervision_level:
            reason = f"超时自动督办: {by_level[level].name}"
            out.append((case, Command(Action.SUPERVISE, reason=reason, level=level)))
    return out
