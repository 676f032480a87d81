"""What a notification says: a case event in Chinese, as markdown, plain text, SMS text or a digest of several.

Pure functions over ``Notice`` (one outbox event as read by the worker). Every message names the
violation exactly: case number, matter code and name (事项), stage, severity, unit, place and grid
cell, the time in the city's zone, and a link to the console when its address is configured.
Lengths are kept within what the providers take (WeCom: 4096 bytes of markdown, 2048 of text).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from tickets.lifecycle import ACTION_LABELS, STAGE_LABELS, Action, Stage

EVENT_LABELS = {"discover": "新案件", "evidence": "补充证据", **{a.value: label for a, label in ACTION_LABELS.items()}}
SEVERITY_LABELS = {"info": "提示", "warning": "一般", "major": "较重", "critical": "严重"}
SMS_SEGMENT = 70  # characters of one carrier segment (Chinese text); a long message uses 67 per segment
SMS_LONG_SEGMENT = 67
MARKDOWN_BYTES = 4000  # WeCom takes 4096 bytes of markdown content; DingTalk more
TEXT_BYTES = 2000  # WeCom takes 2048 bytes of text content
STAGES = frozenset(s.value for s in Stage)
ZONE_LABELS = {"Asia/Shanghai": "北京时间"}


@dataclass(frozen=True, slots=True)
class Notice:
    """One case event as a notification sees it."""

    seq: int
    event_id: str
    event_type: str
    payload: str  # the outbox body, as the webhook sends it
    case_id: int
    case_no: str
    matter_code: str
    matter_name: str
    stage: str
    severity: str
    unit: str | None
    owner: str | None  # the company or site concerned (a muck truck's transport company ...)
    place: str | None
    grid_cell: str | None
    plates: tuple[str, ...]
    when: str  # local time of the event, e.g. 2026-03-02 09:00
    zone: str  # what that time is: 北京时间 (Asia/Shanghai), else the zone's name
    deadline: str | None
    actor: str | None
    reason: str | None
    level: int
    link: str | None

    @property
    def action(self) -> str:
        """Return the action part of the event type (discover, supervise ...)."""
        return self.event_type.removeprefix("case.")

    @property
    def label(self) -> str:
        """Return the event's Chinese label (新案件, 督办 ...)."""
        return EVENT_LABELS.get(self.action, self.action)


def notice_from(event: Mapping[str, Any], tz: ZoneInfo, console_url: str | None) -> Notice:
    """Return the notice of an outbox event row (with its case's place and plates)."""
    body = json.loads(event["payload"])
    case, audit = body.get("case") or {}, body.get("audit") or {}
    at_ms = audit.get("at_ms") or body.get("occurred_ms") or event["created_ms"]
    case_id = int(case.get("case_id") or event["case_id"])
    case_no = case.get("case_no") or f"#{case_id}"
    return Notice(
        seq=int(event["seq"]),
        event_id=event["event_id"],
        event_type=event["event_type"],
        payload=event["payload"],
        case_id=case_id,
        case_no=case_no,
        matter_code=str(case.get("matter_code") or ""),
        matter_name=str(case.get("matter_name") or ""),
        stage=str(case.get("stage") or ""),
        severity=str(case.get("severity") or ""),
        unit=case.get("unit"),
        owner=case.get("owner"),
        place=event.get("place"),
        grid_cell=case.get("grid_cell"),
        plates=tuple(event.get("plates") or ()),
        when=local_time(at_ms, tz),
        zone=ZONE_LABELS.get(tz.key, tz.key),
        deadline=local_time(case["deadline_ms"], tz) if case.get("deadline_ms") else None,
        actor=audit.get("actor"),
        reason=audit.get("reason"),
        level=int(case.get("supervision_level") or 0),
        link=case_link(console_url, case_id, case_no),
    )


def local_time(ms: int, tz: ZoneInfo) -> str:
    """Return epoch ms as local 'YYYY-MM-DD HH:MM'."""
    return datetime.fromtimestamp(ms / 1000, tz=tz).strftime("%Y-%m-%d %H:%M")


def case_link(console_url: str | None, case_id: int, case_no: str) -> str | None:
    """Return the console link of a case: the console_url template with {case_id} / {case_no} filled."""
    if not console_url:
        return None
    return console_url.replace("{case_id}", str(case_id)).replace("{case_no}", case_no)


def stage_label(stage: str) -> str:
    """Return a stage's Chinese label (派遣 ...), or the value itself if it names no stage."""
    return STAGE_LABELS[Stage(stage)] if stage in STAGES else stage


def headline(n: Notice) -> str:
    """Return the one-line title: 【督办】渣土车未密闭 (08011)."""
    label = f"{n.label} · 第{n.level}级" if n.action == Action.SUPERVISE.value and n.level else n.label
    return f"【{label}】{n.matter_name} ({n.matter_code})"


def facts(n: Notice) -> list[tuple[str, str]]:
    """Return the labelled facts of a notice, in reading order (empty ones left out)."""
    place = n.place if n.place not in n.plates else None  # a truck's case is placed by its plate
    where = " · ".join(x for x in (place, f"网格 {n.grid_cell}" if n.grid_cell else None) if x)
    rows = [
        ("案件编号", n.case_no),
        ("事项", f"{n.matter_code} {n.matter_name}"),
        ("环节", stage_label(n.stage)),
        ("等级", SEVERITY_LABELS.get(n.severity, n.severity)),
        ("责任单位", n.unit or ""),
        ("当事单位", n.owner or ""),
        ("地点", where),
        ("车牌", "、".join(n.plates)),
        ("时间", f"{n.when} ({n.zone})"),
        ("环节时限", n.deadline or ""),
        ("经办", n.actor if n.actor and n.actor != "system" else ""),
        ("原因", clip(n.reason or "", 100)),
    ]
    return [(k, v) for k, v in rows if v]


def markdown(n: Notice, mentions: Sequence[str] = (), bullet: str = "> ") -> str:
    """Return a notice as robot markdown: a heading, one fact a line (WeCom quotes them, DingTalk lists them)."""
    lines = [f"### {headline(n)}", *(f"{bullet}{k}: {_md(v)}" for k, v in facts(n))]
    if n.link:
        lines.append(f"[在指挥平台查看]({n.link})")
    return fit("\n".join(lines) + _at(mentions), MARKDOWN_BYTES)


def text(n: Notice) -> str:
    """Return a notice as plain text (WeCom text messages)."""
    lines = [headline(n), *(f"{k}: {v}" for k, v in facts(n))]
    if n.link:
        lines.append(f"查看: {n.link}")
    return fit("\n".join(lines), TEXT_BYTES)


def sms_text(notices: Sequence[Notice], sign_name: str, segments: int) -> str:
    """Return SMS text within the carrier budget (the 【sign】 counted): the first event, and how many more."""
    n = notices[0]  # most telling first: what does not fit is the place, then the unit, never half of one
    parts = [f"【{n.label}】{n.matter_name}({n.matter_code})", n.case_no, n.when[5:], n.unit, n.place]
    more = f" 另有{len(notices) - 1}条" if len(notices) > 1 else ""
    budget = (SMS_SEGMENT if segments == 1 else SMS_LONG_SEGMENT * segments) - (len(sign_name) + 2 if sign_name else 0)
    return _words([p for p in parts if p], budget - len(more)) + more


def _words(parts: Sequence[str], limit: int) -> str:
    """Join parts with spaces while they fit in limit characters (the first one clipped if alone too long)."""
    text = clip(parts[0], limit)
    for part in parts[1:]:
        if len(text) + 1 + len(part) > limit:
            break
        text = f"{text} {part}"
    return text


def digest_markdown(notices: Sequence[Notice], shown: int, mentions: Sequence[str] = ()) -> str:
    """Return a digest of many events as markdown: a count, the first `shown` by name, and how many more."""
    head = f"### 案件事件汇总: {len(notices)} 条\n> {notices[0].when} 至 {notices[-1].when} ({notices[0].zone})\n"
    return _digest(
        head, notices, shown, lambda n: f"- {_md(summary(n))}" + (f" [查看]({n.link})" if n.link else ""), mentions
    )


def digest_text(notices: Sequence[Notice], shown: int) -> str:
    """Return a digest of many events as plain text."""
    head = f"案件事件汇总: {len(notices)} 条 ({notices[0].when} 至 {notices[-1].when})"
    return _digest(head, notices, shown, lambda n: f"- {summary(n)}", (), TEXT_BYTES)


def summary(n: Notice) -> str:
    """Return one line about an event: time, label, case number, matter, unit, place."""
    bits = [n.when[11:], f"【{n.label}】{n.case_no}", f"{n.matter_name}({n.matter_code})", n.unit, n.place]
    return " ".join(b for b in bits if b)


def _digest(
    head: str,
    notices: Sequence[Notice],
    shown: int,
    line: Callable[[Notice], str],
    mentions: Sequence[str],
    limit: int = MARKDOWN_BYTES,
) -> str:
    listed: list[str] = []
    for n in notices[:shown]:  # name events while the message stays within the provider's limit
        candidate = [*listed, line(n)]
        if _bytes(_join(head, candidate, len(notices) - len(candidate), mentions)) > limit:
            break
        listed = candidate
    return fit(_join(head, listed, len(notices) - len(listed), mentions), limit)


def _join(head: str, listed: list[str], rest: int, mentions: Sequence[str]) -> str:
    tail = [f"另有 {rest} 条案件事件, 请到指挥平台查看"] if rest else []
    return "\n".join([head, *listed, *tail]) + _at(mentions)


def clip(value: str, limit: int) -> str:
    """Return value cut to limit characters (an ellipsis marks the cut)."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: max(0, limit - 1)] + "…"


def fit(value: str, max_bytes: int) -> str:
    """Return value cut to max_bytes of UTF-8 (never inside a character; an ellipsis marks the cut)."""
    if _bytes(value) <= max_bytes:
        return value
    return value.encode()[: max_bytes - 3].decode(errors="ignore") + "…"


def _bytes(value: str) -> int:
    return len(value.encode())


def _md(value: str) -> str:
    """Keep people's text from breaking the markdown (no line breaks, no links or tags)."""
    return " ".join(value.split()).replace("<", "‹").replace(">", "›").replace("[", "［").replace("]", "］")


def _at(mentions: Sequence[str]) -> str:
    """Return the @ line DingTalk needs in the text for its at.atMobiles to show (nothing for no mentions)."""
    return ("\n\n" + " ".join(f"@{m.removeprefix('@')}" for m in mentions)) if mentions else ""
