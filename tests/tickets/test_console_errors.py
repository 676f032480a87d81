"""The dispatch console tells a failed request in Chinese: tickets/static/console.js run in Node on a stub page.

The script's own ``api()`` meets fake ``fetch`` answers (the server's ``message_zh``, bare statuses, a body
that is not JSON, no network at all) and its ``failed()`` puts the error in the toast; the console's
page itself shows no English. The real browser runs the console in tests/e2e/test_console.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from tests.e2e.harness import REPO

STATIC = REPO / "tickets" / "static"
NODE = shutil.which("node")
CHINESE = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORD = re.compile(r"\b(?!(?:HTTP|citywatch|PM10)\b)[A-Za-z]{3,}")
HARNESS = r"""
const vm = require("vm"), fs = require("fs");
const element = () => ({ children: [], textContent: "", className: "", value: "", innerHTML: "",
  addEventListener() {}, setAttribute() {}, focus() {}, appendChild(c) { this.children.push(c); } });
let page = {};
const ctx = vm.createContext({
  document: { getElementById: (id) => (page[id] ||= element()), createElement: element, createElementNS: element,
    addEventListener() {} },
  window: { addEventListener() {} }, location: { hash: "", pathname: "/", search: "" }, history: { replaceState() {} },
  sessionStorage: { getItem: () => null, setItem() {}, removeItem() {} },
  setInterval: () => 0, setTimeout: () => 0, clearTimeout() {}, Intl, Date, console,
});
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
(async () => {
  const told = [];
  for (const a of JSON.parse(process.argv[2])) {
    page = {};
    ctx.fetch = a.status === 0 ? async () => { throw new TypeError("Failed to fetch"); } : async () => ({
      status: a.status, ok: a.status < 400, statusText: "",
      json: async () => { if (a.body === null) throw new SyntaxError("not JSON"); return a.body; } });
    ctx.what = a.what;
    await vm.runInContext("api('/api/cases/1/actions').then(() => null, (e) => failed(what, e))", ctx);
    const toast = page.toast || element();
    told.push({ text: toast.textContent, sub: toast.children.map((c) => c.textContent), cls: toast.className });
  }
  console.log(JSON.stringify(told));
})();
"""
REFUSED = {
    "detail": "cannot close (结案) a case that is discovered (发现)",
    "code": "case.transition_refused",
    "message_zh": "案件 CW20260302-00001 当前处于「发现」阶段，不能执行「结案」（仅限「核查」阶段）。",
    "error": "IllegalTransition",
}
BAD_BODY = {"detail": [{"loc": ["body", "reason"], "msg": "String should have at most 500 characters"}]}


def console(answers: list[dict[str, object]]) -> list[dict[str, object]]:
    """Return what the console's toast shows for each answer of the server to a failed request."""
    assert NODE is not None
    args = [NODE, "-e", HARNESS, str(STATIC / "console.js"), json.dumps(answers)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)  # node and our own script
    told: list[dict[str, object]] = json.loads(done.stdout)
    return told


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the console's script")
def test_a_refused_action_shows_the_servers_chinese_message_and_the_english_below() -> None:
    (told,) = console([{"status": 409, "body": REFUSED, "what": "结案失败"}])
    assert told["text"] == "结案失败：" + str(REFUSED["message_zh"])
    assert told["sub"] == [REFUSED["detail"]] and told["cls"] == "toast show err"


@pytest.mark.skipif(NODE is None, reason="needs Node.js to run the console's script")
def test_without_a_chinese_message_the_console_says_one_by_status_or_network() -> None:
    statuses = [400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503, 418]
    answers: list[dict[str, object]] = [{"status": s, "body": None, "what": ""} for s in statuses]
    answers += [{"status": 0, "body": None, "what": "刷新失败"}, {"status": 422, "body": BAD_BODY, "what": ""}]
    told = console(answers)
    texts = [str(t["text"]) for t in told]
    assert all(CHINESE.search(t) and not ENGLISH_WORD.search(t) for t in texts), texts
    by_status = dict(zip(statuses, texts, strict=False))
    assert "登录已失效" in by_status[401] and "无权" in by_status[403] and "他人更新" in by_status[409]
    assert by_status[500] == by_status[502] == by_status[503] == "服务暂时不可用，请稍后再试"
    assert by_status[418] == "请求未能完成 (HTTP 418)"
    assert texts[-2] == "刷新失败：无法连接服务器，请检查网络后重试" and told[-2]["sub"] == ["Failed to fetch"]
    assert told[-1]["sub"] == ["reason: String should have at most 500 characters"]


class Text(HTMLParser):
    """Collects the text a page shows: its text nodes, placeholders and titles (not the script's)."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_script = tag == "script"
        self.shown += [v for k, v in attrs if k in ("placeholder", "title") and v]

    def handle_data(self, data: str) -> None:
        if data.strip() and not self.in_script:
            self.shown.append(data.strip())


def test_the_console_page_shows_no_english() -> None:
    page = Text()
    page.feed((STATIC / "console.html").read_text(encoding="utf-8"))
    english = [t for t in page.shown if ENGLISH_WORD.search(t)]
    assert page.shown and english == []
