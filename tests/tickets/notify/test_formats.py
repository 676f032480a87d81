"""Each channel kind against its provider stand-in: the exact request, the signature, the answer check.

The store routes by the demo city (grid, trucks, companies), so the messages carry what a real one does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from urllib.parse import parse_qs, quote_plus

import pytest

from rules.alerts import Phase
from tests.tickets.conftest import Clock
from tests.tickets.notify.conftest import MakeWorker
from tests.tickets.notify.fakes import Answer, FakeProvider
from tests.tickets.test_store import LEAD, T, make_alert
from tickets.lifecycle import Action, Command
from tickets.outbox import verify_signature
from tickets.store import TicketStore

REPO = Path(__file__).resolve().parents[3]
CONSOLE = "https://cw.example.cn/#case={case_id}"
DISCOVER = {"event_types": ["case.discover"]}
CASE_1 = [  # case 1 as every message names it: gps-m01 of 顺达 in 和平街道's grid
    "> 案件编号: CW20260302-00001",
    "> 事项: 08011 渣土车未密闭",
    "> 环节: 发现",
    "> 等级: 较重",
    "> 责任单位: 和平街道城管中队",
    "> 当事单位: 江城顺达渣土运输有限公司",
    "> 地点: 网格 420106002002008",
    "> 车牌: 鄂A·D3101",
    "> 时间: 2026-03-02 09:00 (北京时间)",
    "> 环节时限: 2026-03-02 09:30",
]


@pytest.fixture
def store(routed_store: TicketStore) -> TicketStore:
    """Return the store routing by the demo city, with case 1 opened (events 1 discover, 2 evidence)."""
    routed_store.apply([make_alert(Phase.OPEN, T, subject="gps-m01", lon=114.30)])
    return routed_store


def test_wecom_markdown_names_the_violation_exactly(
    store: TicketStore, wecom: FakeProvider, make_worker: MakeWorker
) -> None:
    section = {
        "console_url": CONSOLE,
        "channels": {"ops": {"kind": "wecom", "url_env": "CW_WECOM"}},
        "routes": [{"match": DISCOVER, "to": ["ops"]}],
    }
    worker = make_worker(store, section, {"CW_WECOM": wecom.url("/cgi-bin/webhook/send?key=k-123")})
    assert worker.deliver_once() == 1
    (req,) = wecom.requests
    assert (req.method, req.path, req.query) == ("POST", "/cgi-bin/webhook/send", {"key": "k-123"})
    assert req.headers["Content-Type"] == "application/json"
    content = "\n".join(
        ["### 【新案件】渣土车未密闭 (08011)", *CASE_1, "[在指挥平台查看](https://cw.example.cn/#case=1)"]
    )
    assert req.json() == {"msgtype": "markdown", "markdown": {"content": content}}


def test_wecom_text_mentions_by_phone(store: TicketStore, wecom: FakeProvider, make_worker: MakeWorker) -> None:
    section = {
        "channels": {"ops": {"kind": "wecom", "url_env": "CW_WECOM", "msgtype": "text"}},
        "routes": [
            {"match": DISCOVER, "to": ["ops"], "mention": ["13800001111"]},
            {"match": {"matters": ["08"]}, "to": ["ops"], "mention": ["13800001111", "@all"]},
        ],
    }
    worker = make_worker(store, section, {"CW_WECOM": wecom.url("/send?key=k")})
    assert worker.deliver_once() == 2  # discover (both routes: one message) and evidence (the second route)
    first, second = (r.json() for r in wecom.requests)
    lines = ["【新案件】渣土车未密闭 (08011)", *(line.removeprefix("> ") for line in CASE_1)]
    assert first == {
        "msgtype": "text",
        "text": {"content": "\n".join(lines), "mentioned_mobile_list": ["13800001111", "@all"]},
    }
    assert second["text"]["content"].startswith("【补充证据】渣土车未密闭 (08011)\n案件编号: CW20260302-00001")


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """Compute the sign as DingTalk's documentation does (HmacSHA256 of "timestamp\\nsecret", Base64)."""
    string_to_sign = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign, digestmod=hashlib.sha256).digest()).decode()


def test_dingtalk_markdown_is_signed_afresh_on_every_attempt(
    store: TicketStore, dingtalk: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    secret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
    section = {
        "quick_retries": 1,
        "channels": {"leaders": {"kind": "dingtalk", "url_env": "CW_DD", "secret_env": "CW_DD_SECRET"}},
        "routes": [{"match": DISCOVER, "to": ["leaders"], "mention": ["13900002222"]}],
    }
    environ = {"CW_DD": dingtalk.url("/robot/send?access_token=tok-9"), "CW_DD_SECRET": secret}
    worker = make_worker(store, section, environ)
    dingtalk.fail(Answer(200, {"errcode": 310000, "errmsg": "sign not match"}))
    assert worker.deliver_once() == 0
    clock.now_ms += 2_000
    assert worker.deliver_once() == 1
    first, second = dingtalk.requests
    for req, ts in ((first, T), (second, T + 2_000)):
        query = req.query
        assert query["access_token"] == "tok-9" and query["timestamp"] == str(ts)
        assert query["sign"] == dingtalk_sign(secret, query["timestamp"])
        assert f"sign={quote_plus(dingtalk_sign(secret, str(ts)))}" in req.raw_query  # URL-encoded
    facts = [line.replace("> ", "- ", 1) for line in CASE_1]  # DingTalk: a list item a line
    text = "\n".join(["### 【新案件】渣土车未密闭 (08011)", *facts]) + "\n\n@13900002222"
    assert second.json() == {
        "msgtype": "markdown",
        "markdown": {"title": "【新案件】渣土车未密闭 (08011)", "text": text},
        "at": {"atMobiles": ["13900002222"], "isAtAll": False},
    }


def test_dingtalk_without_a_secret_is_not_signed(
    store: TicketStore, dingtalk: FakeProvider, make_worker: MakeWorker
) -> None:
    section = {
        "channels": {"leaders": {"kind": "dingtalk", "url_env": "CW_DD"}},
        "routes": [{"match": DISCOVER, "to": ["leaders"], "mention": ["@all"]}],
    }
    worker = make_worker(store, section, {"CW_DD": dingtalk.url("/robot/send?access_token=t")})
    assert worker.deliver_once() == 1
    (req,) = dingtalk.requests
    assert req.query == {"access_token": "t"}
    assert req.json()["at"] == {"atMobiles": [], "isAtAll": True}


SMS_BODY = {"mobile": "{phone}", "content": "{text}", "sign": "{sign_name}", "appKey": "{api_key}", "ts": "{timestamp}"}


def sms_section(**extra: object) -> dict[str, object]:
    channel = {
        "kind": "sms",
        "url_env": "CW_SMS_URL",
        "body": SMS_BODY,
        "headers": {"X-Api-Key": "{api_key}"},
        "key_env": "CW_SMS_KEY",
        "sign_name": "江城城管",
        "success": {"field": "code", "equals": "OK"},
        "hmac": {"secret_env": "CW_SMS_HMAC", "header": "X-Sms-Signature", "timestamp_header": "X-Sms-Timestamp"},
        **extra,
    }
    return {
        "channels": {"duty": channel},
        "routes": [{"match": DISCOVER, "to": ["duty"], "mention": ["13800001111", "13900002222"]}],
    }


def test_sms_texts_each_phone_within_one_segment_and_signs_the_body(
    store: TicketStore, sms: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    environ = {"CW_SMS_URL": sms.url("/v1/sms"), "CW_SMS_KEY": "key-42", "CW_SMS_HMAC": "hmac-secret"}
    worker = make_worker(store, sms_section(), environ)
    assert worker.deliver_once() == 1
    assert [r.json()["mobile"] for r in sms.requests] == ["13800001111", "13900002222"]
    req = sms.requests[0]
    body = req.json()
    assert (
        body
        == {
            "mobile": "13800001111",
            "content": "【新案件】渣土车未密闭(08011) CW20260302-00001 03-02 09:00 和平街道城管中队",  # the plate did not fit
            "sign": "江城城管",
            "appKey": "key-42",
            "ts": str(clock.now_ms // 1000),
        }
    )
    assert len(body["content"]) + len("【江城城管】") <= 70  # one carrier segment, the signature included
    assert req.headers["X-Api-Key"] == "key-42" and req.headers["Content-Type"].startswith("application/json")
    ts, sig = req.headers["X-Sms-Timestamp"], req.headers["X-Sms-Signature"]
    assert verify_signature("hmac-secret", ts, req.body, sig, clock.now_ms / 1000)


def test_sms_refused_by_the_success_check_is_a_failure(
    store: TicketStore, sms: FakeProvider, make_worker: MakeWorker
) -> None:
    environ = {"CW_SMS_URL": sms.url("/v1/sms"), "CW_SMS_KEY": "k", "CW_SMS_HMAC": "h"}
    worker = make_worker(store, {**sms_section(), "quick_retries": 1}, environ)
    sms.fail(Answer(200, {"code": "isv.BUSINESS_LIMIT_CONTROL", "message": "触发分钟级流控"}))
    assert worker.deliver_once() == 0 and worker.failed == {"duty": 1}
    cursor = store.notify_cursors()["duty"]
    assert cursor["last_seq"] == 0 and "code = 'isv.BUSINESS_LIMIT_CONTROL', not 'OK'" in cursor["last_error"]


def test_sms_form_body_sends_all_phones_at_once(store: TicketStore, sms: FakeProvider, make_worker: MakeWorker) -> None:
    section = {
        "channels": {
            "duty": {
                "kind": "sms",
                "url": sms.url("/send"),
                "encoding": "form",
                "body": {"to": "{phones}", "msg": "{text}", "ref": "{case_no}"},
                "segments": 2,
            }
        },
        "routes": [{"match": DISCOVER, "to": ["duty"], "mention": ["13800001111", "13900002222"]}],
    }
    assert make_worker(store, section).deliver_once() == 1
    (req,) = sms.requests
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(req.body.decode()).items()}
    assert form["to"] == "13800001111,13900002222" and form["ref"] == "CW20260302-00001"
    assert form["msg"] == "【新案件】渣土车未密闭(08011) CW20260302-00001 03-02 09:00 和平街道城管中队 鄂A·D3101"


def test_webhook_posts_the_outbox_payload_signed_as_the_outbox_signs(
    store: TicketStore, webhook: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    section = {
        "channels": {"platform": {"kind": "webhook", "url_env": "CW_HOOK", "secret_env": "CW_HOOK_SECRET"}},
        "routes": [{"to": ["platform"]}],
    }
    worker = make_worker(store, section, {"CW_HOOK": webhook.url("/events"), "CW_HOOK_SECRET": "hook-secret"})
    store.act(1, Command(Action.ACCEPT), LEAD)
    assert worker.deliver_once() == 3
    events = store.notify_events(0, 10)
    assert [r.body for r in webhook.requests] == [e["payload"].encode() for e in events]
    for req, event in zip(webhook.requests, events, strict=True):
        assert req.headers["Idempotency-Key"] == event["event_id"]
        assert req.headers["X-Citywatch-Event"] == event["event_type"]
        ts, sig = req.headers["X-Citywatch-Timestamp"], req.headers["X-Citywatch-Signature"]
        assert verify_signature("hook-secret", ts, req.body, sig, clock.now_ms / 1000)
        assert not verify_signature("another-secret", ts, req.body, sig, clock.now_ms / 1000)
    assert json.loads(webhook.requests[2].body)["audit"]["actor"] == "王敏"
