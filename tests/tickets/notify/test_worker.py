"""The notify worker on a real store and loopback providers: cursors, failures, restarts, floods, routing."""

from __future__ import annotations

import json

from sqlalchemy import delete, insert, select

from tests.support import wait_for
from tests.tickets.conftest import Clock
from tests.tickets.notify.conftest import MakeWorker, event_ids, open_case
from tests.tickets.notify.fakes import Answer, FakeProvider, Request
from tests.tickets.test_store import LEAD, T
from tickets.config import TicketConfig
from tickets.lifecycle import Action, Command
from tickets.schema import outbox
from tickets.store import TicketStore

BUSY = Answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})


def wecom_section(**extra: object) -> dict[str, object]:
    return {"channels": {"ops": {"kind": "wecom", "url_env": "CW_WECOM"}}, "routes": [{"to": ["ops"]}], **extra}


def hook_section(**extra: object) -> dict[str, object]:
    return {
        "channels": {"platform": {"kind": "webhook", "url_env": "CW_HOOK"}},
        "routes": [{"to": ["platform"]}],
        **extra,
    }


def story(req: Request) -> tuple[str, str]:
    """Return what a robot message is about: its heading and the case number (WeCom quotes it, DingTalk lists it)."""
    body = req.json()
    heading, fact = (body["markdown"].get("content") or body["markdown"]["text"]).split("\n")[:2]
    return heading, fact[2:]


def test_the_cursor_moves_only_past_what_the_channel_accepted(
    store: TicketStore, wecom: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    worker = make_worker(
        store, wecom_section(quick_retries=2, backoff_base_s=10), {"CW_WECOM": wecom.url("/send?key=k")}
    )
    open_case(store, 1)  # events 1 and 2
    store.act(1, Command(Action.ACCEPT), LEAD)  # event 3
    wecom.fail(Answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"}), Answer(500))
    assert worker.deliver_once() == 0  # two quick tries, both refused
    cursor = store.notify_cursors()["ops"]
    assert (cursor["last_seq"], cursor["attempts"], cursor["last_error"]) == (0, 1, "HTTP 500")
    assert cursor["next_attempt_ms"] == T + 10_000
    assert (worker.sent, worker.failed, worker.backlog()) == ({"ops": 0}, {"ops": 1}, {"ops": 3})
    assert worker.deliver_once() == 0 and len(wecom.requests) == 2  # backing off: not even tried
    clock.now_ms += 10_000
    wecom.fail(None, Answer(502), Answer(502))  # the first event goes, the second is refused twice
    assert worker.deliver_once() == 1
    cursor = store.notify_cursors()["ops"]
    assert (cursor["last_seq"], cursor["attempts"]) == (1, 1)  # a success reset the count before the failure
    clock.now_ms += 10_000
    assert worker.deliver_once() == 2 and worker.backlog() == {"ops": 0}
    sent = [r.json()["markdown"]["content"].split("\n")[0] for r in wecom.accepted]
    assert sent == [
        "### 【新案件】渣土车未密闭 (08011)",
        "### 【补充证据】渣土车未密闭 (08011)",
        "### 【受理】渣土车未密闭 (08011)",
    ]
    assert store.notify_cursors()["ops"]["last_error"] is None and worker.sent == {"ops": 3}


def test_a_timeout_is_a_failure_and_a_busy_robot_waits_out_the_minute(
    store: TicketStore, wecom: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    section = wecom_section(quick_retries=3, backoff_base_s=1)
    section["channels"]["ops"]["timeout_s"] = 0.2  # type: ignore[index]
    worker = make_worker(store, section, {"CW_WECOM": wecom.url("/send?key=k")})
    open_case(store, 1)
    wecom.fail(*[Answer(200, {"errcode": 0}, delay_s=2.0)] * 3)
    assert worker.deliver_once() == 0
    assert "ReadTimeout" in store.notify_cursors()["ops"]["last_error"] and len(wecom.requests) == 3
    wecom.release()
    clock.now_ms += 1_000
    wecom.fail(BUSY)
    assert worker.deliver_once() == 0
    assert len(wecom.requests) == 4  # "too fast" is not retried at once
    cursor = store.notify_cursors()["ops"]
    assert (
        cursor["last_error"] == "errcode 45009: api freq out of limit" and cursor["next_attempt_ms"] >= clock() + 60_000
    )
    clock.now_ms += 60_000
    assert worker.deliver_once() == 2 and worker.failed == {"ops": 2}


def test_a_channel_that_is_down_does_not_hold_up_another(
    store: TicketStore, wecom: FakeProvider, dingtalk: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    section = {
        "quick_retries": 1,
        "channels": {
            "ops": {"kind": "wecom", "url_env": "CW_WECOM"},
            "leaders": {"kind": "dingtalk", "url_env": "CW_DD"},
        },
        "routes": [{"to": ["ops", "leaders"]}],
    }
    environ = {"CW_WECOM": wecom.url("/send?key=k"), "CW_DD": dingtalk.url("/robot/send?access_token=t")}
    worker = make_worker(store, section, environ)
    wecom.fail(*[Answer(503)] * 3)
    for i in range(1, 4):
        open_case(store, i)
        clock.now_ms += 5_000
        worker.deliver_once()
    assert len(dingtalk.accepted) == 6 and wecom.accepted == []
    assert worker.backlog() == {"ops": 6, "leaders": 0}
    clock.now_ms += 300_000
    assert worker.deliver_once() == 6  # back up: everything, in order, nothing twice
    assert [story(r) for r in wecom.accepted] == [story(r) for r in dingtalk.accepted]  # the same, in order
    assert worker.deliver_once() == 0


def test_threads_keep_a_stalled_channel_from_delaying_the_others(
    store: TicketStore, wecom: FakeProvider, dingtalk: FakeProvider, make_worker: MakeWorker
) -> None:
    section = {
        "quick_retries": 1,
        "channels": {
            "ops": {"kind": "wecom", "url_env": "CW_WECOM", "timeout_s": 5},
            "leaders": {"kind": "dingtalk", "url_env": "CW_DD"},
        },
        "routes": [{"to": ["ops", "leaders"]}],
    }
    environ = {"CW_WECOM": wecom.url("/send?key=k"), "CW_DD": dingtalk.url("/robot/send?access_token=t")}
    worker = make_worker(store, section, environ)
    wecom.fail(Answer(200, {"errcode": 0}, delay_s=30))
    worker.start(interval_s=0.05)
    open_case(store, 1)
    wait_for(lambda: len(wecom.requests) == 1, timeout=3, what="the WeCom request to stall")
    open_case(store, 2)
    wait_for(lambda: len(dingtalk.accepted) == 4, timeout=3, what="DingTalk to get every event while WeCom stalls")
    wecom.release()  # the stalled request is answered (errcode 0) before it times out
    wait_for(lambda: worker.sent["ops"] == 4, timeout=5, what="WeCom to catch up")
    worker.stop()
    assert worker.sent == {"ops": 4, "leaders": 4} and len(wecom.requests) == 4
    assert [story(r) for r in wecom.requests] == [story(r) for r in dingtalk.requests]


def test_a_restarted_worker_resumes_without_loss_or_repeats(
    store_target: str, config: TicketConfig, clock: Clock, webhook: FakeProvider, make_worker: MakeWorker
) -> None:
    environ = {"CW_HOOK": webhook.url("/events")}
    first = TicketStore(store_target, config, clock=clock)
    worker = make_worker(first, hook_section(quick_retries=1), environ)
    open_case(first, 1)
    assert worker.deliver_once() == 2
    open_case(first, 2)
    webhook.fail(None, Answer(503))  # case 2's discover goes, its evidence is refused
    assert worker.deliver_once() == 1
    worker.stop()
    first.close()  # the process is gone; the cursor and the events wait in the database
    second = TicketStore(store_target, config, clock=clock)
    try:
        open_case(second, 3)
        clock.now_ms += 60_000
        assert make_worker(second, hook_section(), environ).deliver_once() == 3
        assert [r.headers["Idempotency-Key"] for r in webhook.accepted] == event_ids(second)  # all 6, once each
    finally:
        second.close()


def test_a_flood_goes_as_digests_that_cover_every_event(
    store: TicketStore, wecom: FakeProvider, webhook: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    section = {
        "channels": {
            "ops": {"kind": "wecom", "url_env": "CW_WECOM", "per_minute": 2, "digest_lines": 5},
            "platform": {"kind": "webhook", "url_env": "CW_HOOK", "per_minute": 2},
        },
        "routes": [{"match": {"event_types": ["case.discover"]}, "to": ["ops"]}, {"to": ["platform"]}],
    }
    worker = make_worker(store, section, {"CW_WECOM": wecom.url("/send?key=k"), "CW_HOOK": webhook.url("/")})
    for i in range(1, 9):
        open_case(store, i)  # 8 cases: 16 events, 8 of them case.discover
    assert worker.deliver_once() == 8 + 16
    (digest,) = wecom.accepted
    head, _, body = digest.json()["markdown"]["content"].partition("\n\n")
    assert head == "### 案件事件汇总: 8 条\n> 2026-03-02 09:00 至 2026-03-02 09:00 (北京时间)"
    lines = body.split("\n")
    assert lines[0] == "- 09:00 【新案件】CW20260302-00001 渣土车未密闭(08011) 江城示范区城管执法中队"
    assert [line.split()[2].removeprefix("【新案件】") for line in lines[:5]] == [
        f"CW20260302-0000{i}" for i in range(1, 6)
    ]
    assert lines[5:] == ["另有 3 条案件事件, 请到指挥平台查看"]
    (bundle,) = webhook.accepted
    assert bundle.headers["X-Citywatch-Event"] == "notify.digest"
    assert [e["event_id"] for e in bundle.json()["events"]] == event_ids(store)
    assert worker.digested == {"ops": 8, "platform": 16} and worker.backlog() == {"ops": 0, "platform": 0}

    open_case(store, 9)  # within budget for WeCom (1 left): alone; over it for the webhook (1 left): a digest
    assert worker.deliver_once() == 1 + 2
    assert wecom.accepted[-1].json()["markdown"]["content"].startswith("### 【新案件】")
    assert [e["event_id"] for e in webhook.accepted[-1].json()["events"]] == event_ids(store)[16:]
    open_case(store, 10)  # both budgets spent: the events wait for the minute to pass
    assert worker.deliver_once() == 0 and worker.backlog() == {"ops": 2, "platform": 2}
    clock.now_ms += 60_000
    assert worker.deliver_once() == 1 + 2
    assert len(webhook.accepted[-1].body) and webhook.accepted[-1].headers["X-Citywatch-Event"] == "case.evidence"
    covered = [json.loads(r.body) for r in webhook.accepted]
    ids = [e["event_id"] for body in covered for e in body.get("events", [body])]
    assert ids == event_ids(store)  # every event, once, in order


def test_routes_pick_by_event_type_matter_severity_and_unit(
    store: TicketStore, webhook: FakeProvider, make_worker: MakeWorker
) -> None:
    from rules.alerts import Severity

    section = {
        "channels": {name: {"kind": "webhook", "url": webhook.url(f"/{name}")} for name in ("sup", "sanit", "major")},
        "routes": [
            {"match": {"event_types": ["case.supervise"]}, "to": ["sup"]},
            {"match": {"matters": ["06"]}, "to": ["sanit"]},
            {"match": {"min_severity": "major", "units": ["江城示范区城管执法中队"]}, "to": ["major"]},
            {"match": {"event_types": ["case.supervise"]}, "to": ["sup", "major"]},  # again: still once each
        ],
    }
    worker = make_worker(store, section)
    open_case(store, 1)  # 08011 major, 执法中队
    open_case(store, 2, matter="06010", severity=Severity.CRITICAL)  # 环卫所
    open_case(store, 3, matter="08004", severity=Severity.WARNING)  # 执法中队, below major
    store.act(1, Command(Action.SUPERVISE, reason="超期未受理"), LEAD)
    worker.deliver_once()
    got: dict[str, list[tuple[int, str]]] = {}
    for r in webhook.accepted:
        got.setdefault(r.path.strip("/"), []).append((r.json()["case"]["case_id"], r.json()["type"]))
    assert got == {
        "sup": [(1, "case.supervise")],
        "sanit": [(2, "case.discover"), (2, "case.evidence")],
        "major": [(1, "case.discover"), (1, "case.evidence"), (1, "case.supervise")],
    }
    assert worker.backlog() == {"sup": 0, "sanit": 0, "major": 0}  # what a channel skips moves its cursor too


def test_a_new_channel_starts_with_the_recent_events_only(
    store: TicketStore, webhook: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    open_case(store, 1, ts_ms=T - 2 * 3_600_000)  # two hours before the channel first runs
    open_case(store, 2, ts_ms=T - 600_000)  # ten minutes before
    worker = make_worker(store, hook_section(backfill_s=3600), {"CW_HOOK": webhook.url("/")})
    assert worker.deliver_once() == 2
    assert [r.json()["case"]["case_id"] for r in webhook.accepted] == [2, 2]


def test_a_hole_in_the_sequence_waits_for_its_event_then_is_stepped_over(
    store: TicketStore, webhook: FakeProvider, make_worker: MakeWorker, clock: Clock
) -> None:
    worker = make_worker(store, hook_section(gap_grace_s=10), {"CW_HOOK": webhook.url("/")})
    open_case(store, 1)
    open_case(store, 2)  # events 1-4
    with store.engine.begin() as conn:  # event 2 as if its transaction had not committed yet
        row = dict(conn.execute(select(outbox).where(outbox.c.seq == 2)).mappings().one())
        conn.execute(delete(outbox).where(outbox.c.seq == 2))
    assert worker.deliver_once() == 1  # 1, then the hole: 3 and 4 wait
    with store.engine.begin() as conn:
        conn.execute(insert(outbox).values(**row))  # ... it commits
    assert worker.deliver_once() == 3
    open_case(store, 3)  # events 5, 6
    with store.engine.begin() as conn:  # event 5 rolled back: the hole never fills
        conn.execute(delete(outbox).where(outbox.c.seq == 5))
    assert worker.deliver_once() == 0
    clock.now_ms += 10_000
    assert worker.deliver_once() == 1
    assert [r.headers["Idempotency-Key"] for r in webhook.accepted] == event_ids(store)
