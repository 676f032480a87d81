"""The wording of notifications: pure functions over a Notice, within the providers' length limits."""

from __future__ import annotations

from dataclasses import replace

from tickets.notify.message import (
    MARKDOWN_BYTES,
    Notice,
    digest_markdown,
    digest_text,
    fit,
    headline,
    markdown,
    sms_text,
    text,
)

NOTICE = Notice(
    seq=7,
    event_id="e7",
    event_type="case.supervise",
    payload="{}",
    case_id=12,
    case_no="CW20261122-00012",
    matter_code="08101",
    matter_name="渣土车未按规定路线行驶 (线路偏移)",
    stage="dispatched",
    severity="critical",
    unit="江滨街道城管中队",
    owner="江城顺达渣土运输有限公司",
    place="江滨路与和平大道交叉口",
    grid_cell="420106001001003",
    plates=("鄂A·D3101",),
    when="2026-11-22 23:40",
    zone="北京时间",
    deadline="2026-11-23 10:30",
    actor="system",
    reason="处置超时\n[请]立即<处理>",
    level=2,
    link=None,
)


def test_a_supervision_names_its_level_and_keeps_people_s_text_from_breaking_the_markdown() -> None:
    assert headline(NOTICE) == "【督办 · 第2级】渣土车未按规定路线行驶 (线路偏移) (08101)"
    assert markdown(NOTICE).split("\n") == [
        "### 【督办 · 第2级】渣土车未按规定路线行驶 (线路偏移) (08101)",
        "> 案件编号: CW20261122-00012",
        "> 事项: 08101 渣土车未按规定路线行驶 (线路偏移)",
        "> 环节: 派遣",
        "> 等级: 严重",
        "> 责任单位: 江滨街道城管中队",
        "> 当事单位: 江城顺达渣土运输有限公司",
        "> 地点: 江滨路与和平大道交叉口 · 网格 420106001001003",
        "> 车牌: 鄂A·D3101",
        "> 时间: 2026-11-22 23:40 (北京时间)",
        "> 环节时限: 2026-11-23 10:30",
        "> 原因: 处置超时 ［请］立即‹处理›",  # no line break, link or tag from a person's reason
    ]
    assert "经办" not in text(NOTICE)  # the system is not a person to name
    assert "经办: 王敏" in text(replace(NOTICE, actor="王敏"))


def test_sms_text_keeps_to_the_carrier_segments_with_the_signature_counted() -> None:
    one = sms_text([NOTICE], "江城城管", 1)
    assert one == "【督办】渣土车未按规定路线行驶 (线路偏移)(08101) CW20261122-00012 11-22 23:40"
    assert len(one) + len("【江城城管】") <= 70
    two = sms_text([NOTICE], "", 2)  # two segments: room for the unit and the place
    assert two == one + " 江滨街道城管中队 江滨路与和平大道交叉口"
    many = sms_text([NOTICE] * 5, "江城城管", 1)
    assert many.endswith(" 另有4条") and len(many) + 6 <= 70
    long_name = replace(NOTICE, matter_name="很长的事项名称" * 20)
    assert len(sms_text([long_name], "江城城管", 1)) == 64 and sms_text([long_name], "", 1).endswith("…")


def test_a_digest_of_a_large_flood_stays_within_the_robot_limit_and_counts_the_rest() -> None:
    flood = [replace(NOTICE, case_no=f"CW20261122-{i:05d}", place="很长的地点描述" * 10) for i in range(500)]
    content = digest_markdown(flood, shown=50, mentions=["13800001111"])
    assert len(content.encode()) <= MARKDOWN_BYTES
    lines = content.split("\n")
    listed = [line for line in lines if line.startswith("- ")]
    assert lines[0] == "### 案件事件汇总: 500 条" and 0 < len(listed) < 50
    assert f"另有 {500 - len(listed)} 条案件事件, 请到指挥平台查看" in lines and lines[-1] == "@13800001111"
    small = digest_text(flood[:3], shown=10).split("\n")
    assert small[0] == "案件事件汇总: 3 条 (2026-11-22 23:40 至 2026-11-22 23:40)" and len(small) == 4  # all named


def test_fit_never_cuts_a_character_in_half() -> None:
    assert fit("案件" * 10, 13) == "案件案…"  # 9 bytes of text and 3 of the ellipsis: no half character
    for limit in range(4, 40):
        assert len(fit("案件abc" * 10, limit).encode()) <= limit
