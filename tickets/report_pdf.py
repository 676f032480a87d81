"""The monthly report (月考评) as a PDF: summary, unit grades, 红黑榜, violation kinds, terminal online rates.

Chinese text needs a CJK font. The first TrueType font found among ``font`` (a path), the usual
system CJK fonts and ``fc-list :lang=zh`` is embedded (subset); without one, the PDF names Adobe's
STSong-Light, which viewers supply themselves (the text stays selectable, the file not self-contained).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import (
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from tickets.kpi import Kpis
from tickets.monthly import QUEUE_NAMES, MonthlyReport

FONT_NAME = "CityCJK"
FALLBACK_FONT = "STSong-Light"
SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/STHeiti Light.ttc",
    "C:/Windows/Fonts/simhei.ttf",
)
KIND_NAMES = {
    "vehicle": "车载终端",
    "facility": "满溢传感器",
    "site": "工地监测",
    "background": "背景站",
    "camera": "AI 摄像头",
}
HEAD_BG = colors.HexColor("#1f3a5f")
RED_BG, BLACK_BG = colors.HexColor("#fde2e1"), colors.HexColor("#d9d9d9")
MAX_DEVICE_LINES = 40


def _candidates(font: Path | None) -> list[str]:
    found = [str(font)] if font else []
    found += [p for p in SYSTEM_FONTS if Path(p).is_file()]
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], check=False, capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found += sorted(
            line.split(":")[0].strip()
            for line in out.splitlines()
            if line.split(":")[0].strip().lower().endswith((".ttf", ".ttc"))
        )
    return found


def register_font(font: Path | None = None) -> str:
    """Register a CJK font for the report and return its name (see the module text)."""
    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    for path in _candidates(font):
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, path, subfontIndex=0))
            return FONT_NAME
        except (TTFError, OSError, ValueError):
            continue  # a CFF-based OpenType font or a broken file: try the next one
    if font is not None:
        raise ValueError(f"report font {font}: not a TrueType font reportlab can embed (.ttf / .ttc)")
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=13)
    return {
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=10, textColor=colors.HexColor("#555555")),
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=26, spaceAfter=6),
        "h1": ParagraphStyle("h1", parent=base, fontSize=13, leading=18, spaceBefore=4, spaceAfter=6),
    }


def _table(
    font: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    widths: Sequence[float],
    extra: Sequence[tuple] = (),
    left: int = 1,
) -> Table:
    """Return a styled table: the first ``left`` columns are text (left-aligned), the rest figures."""
    table = Table(
        [list(header), *[[str(c) for c in r] for r in rows]], colWidths=[w * mm for w in widths], repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), font, 8.5),
                ("BACKGROUND", (0, 0), (-1, 0), HEAD_BG),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                ("ALIGN", (left, 1), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f3f6fa")]),
                *extra,
            ]
        )
    )
    return table


def _unit_row(name: str, k: Kpis) -> list[object]:
    return [
        name,
        k.total,
        k.dispatched,
        k.handled,
        _pct(k.handled_rate),
        k.on_time,
        _pct(k.on_time_rate),
        k.registered,
        k.closed,
        _pct(k.closed_rate),
        k.overdue,
    ]


def _summary(r: MonthlyReport, st: dict[str, ParagraphStyle], font: str, zone: ZoneInfo) -> list:
    made = datetime.fromtimestamp(r.generated_ms / 1000, zone).strftime("%Y-%m-%d %H:%M")
    year, month = r.month.label.split("-")
    k = r.overall
    return [
        Paragraph(f"{r.city} 数字城管月度考评报告 · {year}年{int(month)}月", st["title"]),
        Paragraph(
            f"考评期间 {r.month.label} (按案件发现时间), 数据截至 {made} ({zone.key}); 平台在线 {r.up_minutes} 分钟。",
            st["body"],
        ),
        Spacer(1, 4 * mm),
        _table(
            font,
            ("案件数", "派遣", "处置", "处置率", "按期处置", "按期处置率", "立案", "结案", "结案率", "超期"),
            [_unit_row("", k)[1:]],
            [22] * 10,
            left=0,
        ),
        Spacer(1, 6 * mm),
        Paragraph("口径说明", st["h1"]),
        Paragraph(
            "处置率 = 处置数 / 派遣数; 按期处置率 = 处置时限内处置数 / 处置数; 结案率 = 结案数 / 立案数; "
            "作废案件不计。企业扣分只计立案及以后阶段的执法类案件 (不含设备维护、预派遣), 按 tickets.yaml "
            "scoring 表计分, 以车均扣分排名。"
            f"红榜: 本月无立案违规且终端在线率不低于 {_pct(r.policy.red_min_online)}; "
            f"黑榜: 车均扣分最高的 {r.policy.black_size} 家 (有扣分者) 及被暂停企业。",
            st["body"],
        ),
        Paragraph(
            "终端在线率 = 实收条数 / 应收条数, 应收条数 = 平台在线时长 / 上报间隔 (city.yaml reporting), "
            "每台设备最高 100%; AI 摄像头按事件上报、无心跳, 其在线率为平台在线时段中其遗嘱状态为在线的时间占比。",
            st["body"],
        ),
    ]


def _units(r: MonthlyReport, st: dict[str, ParagraphStyle], font: str) -> list:
    rows = [_unit_row(u, k) for u, k in r.units.items()] + [_unit_row("合计", r.overall)]
    header = (
        "处置单位",
        "案件数",
        "派遣",
        "处置",
        "处置率",
        "按期处置",
        "按期处置率",
        "立案",
        "结案",
        "结案率",
        "超期",
    )
    bold = [("BACKGROUND", (0, len(rows)), (-1, len(rows)), colors.HexColor("#e8eef7"))]
    return [
        Paragraph("一、处置单位考评", st["h1"]),
        _table(font, header, rows, [78, 17, 17, 17, 19, 19, 22, 17, 17, 19, 17], bold),
    ]


def _companies(r: MonthlyReport, st: dict[str, ParagraphStyle], font: str) -> list:
    rows = [
        [
            c.rank,
            c.company,
            c.board or "—",
            c.vehicles,
            c.cases,
            c.points,
            f"{c.points_per_vehicle:.2f}",
            _pct(c.online_rate),
            "已暂停" if c.suspended else "",
        ]
        for c in r.companies
    ]
    marks = [
        ("BACKGROUND", (0, i), (-1, i), RED_BG if c.board == "红榜" else BLACK_BG)
        for i, c in enumerate(r.companies, start=1)
        if c.board
    ]
    header = ("排名", "企业", "榜单", "车辆", "立案违规", "扣分", "车均扣分", "终端在线率", "状态")
    return [
        Paragraph("二、运输 / 环卫企业红黑榜", st["h1"]),
        _table(font, header, rows, [14, 80, 18, 16, 22, 16, 22, 26, 20], marks, left=3)
        if rows
        else Paragraph("本月无企业数据。", st["body"]),
    ]


def _matters(r: MonthlyReport, st: dict[str, ParagraphStyle], font: str) -> list:
    rows = [
        [i, m.code, m.name, QUEUE_NAMES.get(m.queue, m.queue), m.cases, m.confirmed, m.voided]
        for i, m in enumerate(r.matters, start=1)
    ]
    return [
        Paragraph("三、违规类型排行 (按案件数)", st["h1"]),
        _table(
            font,
            ("名次", "事项编码", "事项", "队列", "案件数", "立案", "作废"),
            rows,
            [14, 22, 110, 24, 20, 20, 20],
            left=4,
        )
        if rows
        else Paragraph("本月无案件。", st["body"]),
    ]


def _online(r: MonthlyReport, st: dict[str, ParagraphStyle], font: str) -> list:
    rows = [
        [
            o.owner or "—",
            KIND_NAMES.get(o.kind, o.kind),
            o.devices,
            "—" if o.expected is None else f"{o.expected:,.0f}",
            f"{o.received:,}",
            _pct(o.rate),
            o.below,
        ]
        for o in r.online
    ]
    if not r.online_known:
        return [
            Paragraph("四、终端在线率", st["h1"]),
            Paragraph("未配置时序数据库 (CITYWATCH_INFLUX_URL), 无法统计终端在线率。", st["body"]),
        ]
    poor = [d for d in r.devices if d.rate < r.policy.device_min_online][:MAX_DEVICE_LINES]
    out = [
        Paragraph("四、终端在线率 (按企业 / 单位)", st["h1"]),
        _table(
            font,
            (
                "企业 / 单位",
                "设备类型",
                "设备数",
                "应收条数",
                "实收条数",
                "在线率",
                f"低于 {_pct(r.policy.device_min_online)}",
            ),
            rows,
            [90, 26, 18, 28, 28, 22, 26],
            left=2,
        )
        if rows
        else Paragraph("清单中无设备。", st["body"]),
    ]
    if poor:
        out += [
            Spacer(1, 5 * mm),
            Paragraph(f"在线率低于 {_pct(r.policy.device_min_online)} 的设备 (最差 {len(poor)} 台)", st["h1"]),
            _table(
                font,
                ("设备", "设备类型", "企业 / 单位", "应收条数", "实收条数", "在线率"),
                [
                    [
                        d.device_id,
                        KIND_NAMES.get(d.kind, d.kind),
                        d.owner or "—",
                        "—" if d.expected is None else f"{d.expected:,.0f}",
                        f"{d.received:,}",
                        _pct(d.rate),
                    ]
                    for d in poor
                ],
                [40, 26, 90, 28, 28, 22],
                left=3,
            ),
        ]
    return out


def write_pdf(report: MonthlyReport, path: Path, font: Path | None = None) -> Path:
    """Write the monthly report to a PDF file and return its path."""
    name = register_font(font)
    st, zone = _styles(name), ZoneInfo(report.month.timezone)
    path.parent.mkdir(parents=True, exist_ok=True)

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(name, 7.5)
        canvas.setFillColor(colors.HexColor("#666666"))
        canvas.drawString(15 * mm, 8 * mm, f"citywatch · {report.city} · 月度考评 {report.month.label}")
        canvas.drawRightString(landscape(A4)[0] - 15 * mm, 8 * mm, f"第 {doc.page} 页")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=f"{report.city} 月度考评 {report.month.label}",
        author="citywatch",
        subject="数字城管月度考评",
    )
    story = [
        *_summary(report, st, name, zone),
        PageBreak(),
        *_units(report, st, name),
        PageBreak(),
        *_companies(report, st, name),
        PageBreak(),
        *_matters(report, st, name),
        PageBreak(),
        *_online(report, st, name),
    ]
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return path
