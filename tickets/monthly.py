"""The monthly grading (月考评) of units, companies and terminals, as pure functions.

- Units: 处置率, 按期处置率 and 结案率 (``tickets/kpi.py``) of the cases discovered in the month, as they
  stand when the report is made.
- Companies (红黑榜): confirmed enforcement cases (立案 or later, not 作废) discovered in the month, their
  points (the scoring table of tickets.yaml) per vehicle, the online rate of their terminals and
  whether they are suspended. 红榜: no confirmed violation and terminals online at least
  ``red_min_online``; 黑榜: the ``black_size`` worst by points per vehicle, and every suspended company.
- Violation kinds: cases per matter, most frequent first.
- Terminals: a periodic device (JT/T 808 terminal, fill sensor, site monitor, background station) is
  expected to send one message per reporting interval while the platform is up (the minutes in which
  it received anything, so a platform outage is nobody's fault); its rate is received / expected,
  capped at 1 per device. An AI camera sends events, not a heartbeat: its rate is the share of those
  minutes in which its retained status (birth / last will) said online.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from tickets.kpi import CONFIRMED, CaseFacts, Kpis, Offence, by, compute, points_of
from tickets.lifecycle import Stage

MINUTE_MS = 60_000
CAMERA = "camera"
QUEUE_NAMES = {"enforcement": "执法", "maintenance": "设备维护", "dispatch_ahead": "预派遣"}


class MonthError(ValueError):
    """A month that is not YYYY-MM."""


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in the city's time zone, as [start_ms, end_ms)."""

    label: str
    start_ms: int
    end_ms: int
    timezone: str = "Asia/Shanghai"

    @classmethod
    def parse(cls, text: str, timezone: str) -> Month:
        """Return the month named YYYY-MM (e.g. 2026-11), from local midnight of the 1st to the next 1st."""
        m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1970:
            raise MonthError(f"month {text!r}: expected YYYY-MM, e.g. 2026-11")
        year, month = int(m.group(1)), int(m.group(2))
        zone = ZoneInfo(timezone)
        start = datetime(year, month, 1, tzinfo=zone)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        return cls(f"{year:04d}-{month:02d}", int(start.timestamp() * 1000), int(end.timestamp() * 1000), timezone)


@dataclass(frozen=True, slots=True)
class CaseMonth:
    """What the ticket store knows of the cases discovered in a month."""

    facts: list[CaseFacts]
    offences: list[Offence]
    matters: list[tuple[str, str, str, int]]  # (matter code, queue, stage, cases)
    suspended: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Device:
    """A device of the inventory: what it is, who answers for it, how often it should report."""

    device_id: str
    kind: str  # vehicle | facility | site | background | camera
    owner: str
    interval_s: float | None  # None: event-driven (a camera)


@dataclass(frozen=True, slots=True)
class Traffic:
    """What the time series say of a month: messages per device, the platform's up minutes, statuses."""

    received: Mapping[str, int]
    up_minutes: Mapping[int, int]  # messages the platform received per minute (start ms) that had any
    statuses: Mapping[str, Sequence[tuple[int, bool]]] = field(default_factory=dict)  # (ts_ms, online), in order


@dataclass(frozen=True, slots=True)
class DeviceOnline:
    """One device's online figure for the month."""

    device_id: str
    kind: str
    owner: str
    expected: float | None
    received: int
    rate: float


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """Online rate of one owner's devices of one kind."""

    owner: str
    kind: str
    devices: int
    expected: float | None
    received: int
    rate: float | None
    below: int  # devices under the report's threshold


@dataclass(frozen=True, slots=True)
class CompanyRow:
    """A company's line of the 红黑榜."""

    rank: int
    company: str
    vehicles: int
    cases: int
    points: int
    points_per_vehicle: float
    online_rate: float | None
    suspended: bool
    board: str  # 红榜 | 黑榜 | ""


@dataclass(frozen=True, slots=True)
class MatterRow:
    """Cases of one matter in the month."""

    code: str
    name: str
    queue: str
    cases: int
    confirmed: int
    voided: int


@dataclass(frozen=True, slots=True)
class BoardPolicy:
    """Who makes the 红榜 and the 黑榜, and which devices count as poorly online."""

    red_min_online: float = 0.95
    black_size: int = 3
    device_min_online: float = 0.9


@dataclass(frozen=True)
class MonthlyReport:
    """Everything the monthly PDF and CSV files show."""

    city: str
    month: Month
    generated_ms: int
    overall: Kpis
    units: dict[str, Kpis]
    companies: list[CompanyRow]
    matters: list[MatterRow]
    online: list[OnlineRow]
    devices: list[DeviceOnline]
    up_minutes: int
    policy: BoardPolicy
    online_known: bool = True  # False: no time series configured, so no online rate


def minute_weights(counts: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Return the up minutes (start ms) and how much of each the platform was up: all of it, except the first
    and last minute of a run of minutes, which count for their traffic over the run's median minute."""
    minutes = np.asarray(sorted(counts), dtype=np.int64)
    traffic = np.asarray([counts[int(m)] for m in minutes], dtype=float)
    weights = np.ones(len(minutes))
    for run in np.split(np.arange(len(minutes)), np.flatnonzero(np.diff(minutes) > MINUTE_MS) + 1):
        if len(run) < 3:
            continue
        typical = float(np.median(traffic[run[1:-1]]))
        for edge in (run[0], run[-1]):
            weights[edge] = min(1.0, traffic[edge] / typical) if typical > 0 else 1.0
    return minutes, weights


def device_online(devices: Iterable[Device], traffic: Traffic) -> list[DeviceOnline]:
    """Return each device's online rate over the platform's up minutes (see the module text)."""
    minutes, weights = minute_weights(traffic.up_minutes)
    up_s = float(weights.sum()) * 60.0
    out = []
    for d in devices:
        received = int(traffic.received.get(d.device_id, 0))
        if d.interval_s is None:
            rate = _status_share(traffic.statuses.get(d.device_id, ()), minutes, weights)
            out.append(DeviceOnline(d.device_id, d.kind, d.owner, None, received, rate))
            continue
        expected = up_s / d.interval_s
        rate = min(received, expected) / expected if expected > 0 else 0.0
        out.append(DeviceOnline(d.device_id, d.kind, d.owner, round(expected, 1), received, rate))
    return out


def _status_share(statuses: Sequence[tuple[int, bool]], minutes: np.ndarray, weights: np.ndarray) -> float:
    """Return the (weighted) share of the minutes whose middle falls while the last status said online."""
    if not len(minutes) or not statuses or weights.sum() <= 0:
        return 0.0
    times = np.asarray([t for t, _ in statuses], dtype=np.int64)
    online = np.asarray([o for _, o in statuses], dtype=bool)
    idx = np.searchsorted(times, minutes + MINUTE_MS // 2, side="right") - 1
    on = np.where(idx >= 0, online[np.clip(idx, 0, None)], False)
    return float((on * weights).sum() / weights.sum())


def online_rows(devices: Sequence[DeviceOnline], threshold: float) -> list[OnlineRow]:
    """Return the online rate per owner and kind: capped received over expected (cameras: mean share)."""
    groups: dict[tuple[str, str], list[DeviceOnline]] = defaultdict(list)
    for d in devices:
        groups[(d.owner, d.kind)].append(d)
    rows = []
    for (owner, kind), ds in sorted(groups.items()):
        below = sum(d.rate < threshold for d in ds)
        received = sum(d.received for d in ds)
        if kind == CAMERA or any(d.expected is None for d in ds):
            rows.append(OnlineRow(owner, kind, len(ds), None, received, _mean([d.rate for d in ds]), below))
            continue
        expected = sum(d.expected or 0.0 for d in ds)
        capped = sum(min(d.received, d.expected or 0.0) for d in ds)
        rows.append(
            OnlineRow(
                owner, kind, len(ds), round(expected, 1), received, capped / expected if expected else None, below
            )
        )
    return rows


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def company_rows(
    offences: Iterable[Offence],
    fleet: Mapping[str, int],
    online: Mapping[str, float | None],
    suspended: frozenset[str],
    points: Mapping[str, int],
    matter_points: Mapping[str, int],
    policy: BoardPolicy,
) -> list[CompanyRow]:
    """Return the 红黑榜: every company ranked best first by points per vehicle, then online rate."""
    cases: dict[str, int] = defaultdict(int)
    score: dict[str, int] = defaultdict(int)
    for o in offences:
        if o.stage in CONFIRMED:
            cases[o.company] += 1
            score[o.company] += points_of(o, points, matter_points)
    names = sorted(set(fleet) | set(cases) | set(suspended))

    def per_vehicle(c: str) -> float:
        return round(score[c] / max(fleet.get(c, 0), 1), 2)

    ranked = sorted(names, key=lambda c: (per_vehicle(c), -(online.get(c) or 0.0), c))
    worst = [c for c in reversed(ranked) if score[c] > 0][: policy.black_size]
    rows = []
    for rank, c in enumerate(ranked, start=1):
        rate = online.get(c)
        red = score[c] == 0 and c not in suspended and (rate is None or rate >= policy.red_min_online)
        board = "黑榜" if c in suspended or c in worst else "红榜" if red else ""
        rows.append(
            CompanyRow(rank, c, fleet.get(c, 0), cases[c], score[c], per_vehicle(c), rate, c in suspended, board)
        )
    return rows


def matter_rows(counts: Iterable[tuple[str, str, str, int]], names: Mapping[str, str]) -> list[MatterRow]:
    """Return cases per matter, most first: all discovered, confirmed (立案 or later) and voided (作废)."""
    total: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for code, queue, stage, n in counts:
        row = total[(code, queue)]
        row[0] += n
        row[1] += n if Stage(stage) in CONFIRMED else 0
        row[2] += n if Stage(stage) is Stage.VOID else 0
    rows = [MatterRow(code, names.get(code, code), queue, *ns) for (code, queue), ns in total.items()]
    return sorted(rows, key=lambda r: (-r.cases, r.code))


def build(
    city: str,
    month: Month,
    cases: CaseMonth,
    devices: Sequence[Device],
    traffic: Traffic | None,
    names: Mapping[str, str],
    points: Mapping[str, int],
    matter_points: Mapping[str, int],
    generated_ms: int,
    policy: BoardPolicy | None = None,
) -> MonthlyReport:
    """Return the month's report from the store's cases, the inventory's devices and the time series
    (None: none configured, so the report has no online rates)."""
    policy = policy or BoardPolicy()
    per_device = device_online(devices, traffic) if traffic is not None else []
    fleet: dict[str, int] = defaultdict(int)
    for d in devices:
        if d.kind == "vehicle":
            fleet[d.owner] += 1
    online = online_rows(per_device, policy.device_min_online)
    vehicles = {r.owner: r.rate for r in online if r.kind == "vehicle"}  # a company's online rate: its trucks'
    return MonthlyReport(
        city=city,
        month=month,
        generated_ms=generated_ms,
        overall=compute(cases.facts),
        units=by(cases.facts, lambda f: f.unit),
        companies=company_rows(cases.offences, fleet, vehicles, cases.suspended, points, matter_points, policy),
        matters=matter_rows(cases.matters, names),
        online=online,
        devices=sorted(per_device, key=lambda d: (d.rate, d.device_id)),
        up_minutes=len(traffic.up_minutes) if traffic is not None else 0,
        policy=policy,
        online_known=traffic is not None,
    )
