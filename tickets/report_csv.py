"""The monthly report as CSV files: one per table, UTF-8 with a byte-order mark so spreadsheets read Chinese."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from tickets.kpi import Kpis
from tickets.monthly import MonthlyReport


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        out = csv.writer(f)
        out.writerow(header)
        out.writerows(rows)
    return path


UNIT_HEADER = (
    "unit 单位",
    "cases 案件数",
    "dispatched 派遣数",
    "handled 处置数",
    "handled_rate 处置率",
    "on_time 按期处置数",
    "on_time_rate 按期处置率",
    "registered 立案数",
    "closed 结案数",
    "closed_rate 结案率",
    "overdue 超期数",
)


def unit_line(unit: str, k: Kpis) -> list[object]:
    """Return one unit's CSV line."""
    return [
        unit,
        k.total,
        k.dispatched,
        k.handled,
        _rate(k.handled_rate),
        k.on_time,
        _rate(k.on_time_rate),
        k.registered,
        k.closed,
        _rate(k.closed_rate),
        k.overdue,
    ]


def write_csv(report: MonthlyReport, out: Path) -> list[Path]:
    """Write units, companies, matters, online and devices CSV files into out; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"report-{report.month.label}"
    units = [unit_line(u, k) for u, k in report.units.items()] + [unit_line("合计", report.overall)]
    return [
        _write(out / f"{stem}-units.csv", UNIT_HEADER, units),
        _write(
            out / f"{stem}-companies.csv",
            (
                "rank 排名",
                "company 企业",
                "board 榜单",
                "vehicles 车辆数",
                "cases 立案违规数",
                "points 扣分",
                "points_per_vehicle 车均扣分",
                "online_rate 终端在线率",
                "suspended 暂停",
            ),
            (
                [
                    c.rank,
                    c.company,
                    c.board,
                    c.vehicles,
                    c.cases,
                    c.points,
                    f"{c.points_per_vehicle:.2f}",
                    _rate(c.online_rate),
                    "yes" if c.suspended else "",
                ]
                for c in report.companies
            ),
        ),
        _write(
            out / f"{stem}-matters.csv",
            ("code 事项编码", "matter 事项", "queue 队列", "cases 案件数", "confirmed 立案数", "voided 作废数"),
            ([m.code, m.name, m.queue, m.cases, m.confirmed, m.voided] for m in report.matters),
        ),
        _write(
            out / f"{stem}-online.csv",
            (
                "owner 单位/企业",
                "kind 设备类型",
                "devices 设备数",
                "expected 应收条数",
                "received 实收条数",
                "online_rate 在线率",
                "below 低于阈值设备数",
            ),
            (
                [
                    r.owner,
                    r.kind,
                    r.devices,
                    "" if r.expected is None else f"{r.expected:.1f}",
                    r.received,
                    _rate(r.rate),
                    r.below,
                ]
                for r in report.online
            ),
        ),
        _write(
            out / f"{stem}-devices.csv",
            (
                "device_id 设备",
                "kind 设备类型",
                "owner 单位/企业",
                "expected 应收条数",
                "received 实收条数",
                "online_rate 在线率",
            ),
            (
                [
                    d.device_id,
                    d.kind,
                    d.owner,
                    "" if d.expected is None else f"{d.expected:.1f}",
                    d.received,
                    f"{d.rate:.4f}",
                ]
                for d in report.devices
            ),
        ),
    ]
