"""The dispatch console in real headless Chromium (Debian's, driven by Playwright) against the real ticket service.

The foundation scenario runs through the real rule engine and embedded runner into a ticket
store; the console is loaded before the violations happen, a case appears in the queue, and
people with different roles (intake, shift lead, dispatcher, handling unit, inspector) take it
through the loop by clicking, each logged in with their own token. Screenshots are kept under
test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from citywatch.console import units_of
from citywatch.settings import Settings
from citywatch.ticket_store import open_store
from devices.contracts import DeviceStatus, Message
from devices.inventory import load_city
from devices.sim.generator import generate
from devices.sim.scenario import load_scenario
from rules.engine import Engine
from streams.embedded import EmbeddedRunner
from tests.e2e.harness import REPO
from tickets.auth import IssuedToken, TokenBook, demo_tokens
from tickets.lifecycle import Role
from tickets.live import LiveView
from tickets.server import ServerThread
from tickets.service import TicketService
from tickets.store import TicketStore

pytestmark = pytest.mark.services  # needs the browser that `make test` installs (scripts/ensure-browser.sh)

ARTIFACTS = REPO / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Console:
    server: ServerThread
    store: TicketStore
    runner: EmbeddedRunner
    tokens: list[IssuedToken]
    later: list[Message]

    def token(self, role: Role, unit: str | None = None) -> str:
        return next(t.token for t in self.tokens if t.actor.role is role and (unit is None or t.actor.unit == unit))


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    settings = Settings(ticket_db=tmp_path / "tickets.sqlite", city_dir=REPO / "cities" / "demo")
    city = load_city(settings.city_dir)
    store = open_store(settings, city)
    live = LiveView(city)
    runner = EmbeddedRunner(Engine(city), store, taps=[live])
    scenario = load_scenario(REPO / "scenarios" / "foundation.yaml", city)
    start = time.time_ns() // 1_000_000 - int(scenario.duration_s * 1000) - 60_000
    messages = sorted(generate(city, scenario, 7, start), key=lambda m: m.ts_ms)
    split = start + 280_000  # before the first planted violation (300 s)
    runner.process([m for m in messages if m.ts_ms < split])
    tokens = demo_tokens(units_of(store, city))
    service = TicketService(store, TokenBook((), tokens), live, city)
    server = ServerThread(service).start()
    running = [m for m in messages if m.ts_ms >= split and not (isinstance(m, DeviceStatus) and m.state == "offline")]
    yield Console(server, store, runner, tokens, running)  # no farewells: the fleet is still out, as in a shift
    server.stop()
    store.close()


@pytest.fixture
def page() -> Iterator[Page]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed: run scripts/ensure-browser.sh"
    with sync_playwright() as p:
        profile = ARTIFACTS / "chromium-profile"
        shutil.rmtree(profile, ignore_errors=True)
        ctx = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            headless=True,
            args=FLAGS,
            viewport={"width": 1680, "height": 1000},
            locale="zh-CN",
        )
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        yield pg
        ctx.close()
        shutil.rmtree(profile, ignore_errors=True)
        assert errors == [], f"JavaScript errors or CSP violations on the page: {errors}"


def login(page: Page, token: str, label: str) -> None:
    page.fill("#token", token)
    page.click("#login")
    expect(page.locator("#who")).to_contain_text(label)


def act(page: Page, action: str, stage_label: str, reason: str | None = None) -> None:
    if reason:
        page.fill("#f-reason", reason)
    page.click(f'button[data-detail-action="{action}"]')
    expect(page.locator("#detail-body .kv").first).to_contain_text(stage_label, timeout=10_000)


def test_a_case_appears_is_dispatched_and_closed_in_the_console(console: Console, page: Page) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{console.server.url}/#token={console.token(Role.SHIFT_LEAD)}")
    expect(page.locator("#who")).to_contain_text("值班长")
    assert "token" not in page.url  # read once from the link, then dropped from the address bar
    expect(page.locator("#queue")).to_contain_text("暂无案件")
    expect(page.locator("#map circle").first).to_be_attached()  # vehicles on the live map
    console.runner.process(console.later)  # the rest of the scenario: the planted violations happen
    row = page.locator("tr[data-case-id]", has_text="鄂A·D3102")  # the uncovered load of gps-m02
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator('[data-testid="stage"]')).to_have_text("发现")
    expect(page.locator("#feed")).to_contain_text("未密闭")
    assert page.locator("tr[data-case-id]").count() == 6  # one case per planted violation
    expect(page.locator(".tile", has_text="在线车辆").locator(".v")).to_have_text("12")  # every truck reporting
    queue = page.locator("#queue")
    for name in ("渣土车未按规定路线行驶", "渣土车未密闭", "垃圾站(箱)满溢"):  # each case named for its violation
        expect(queue).to_contain_text(name)
    row.click()
    expect(page.locator("#detail-body")).to_contain_text("渣土车未密闭 · 鄂A·D3102")  # the title
    expect(page.locator("#detail-body")).to_contain_text("江城顺达渣土运输有限公司")
    unit = next(c["unit"] for c in console.store.cases() if "gps-m02" in c["subjects"])  # routed by the grid
    expect(page.locator("#track path")).to_have_count(1)  # the truck's track around the violation

    login(page, console.token(Role.INTAKE), "受理员")
    row.click()
    act(page, "accept", "受理")
    login(page, console.token(Role.SHIFT_LEAD), "值班长")
    row.click()
    act(page, "register", "立案")
    login(page, console.token(Role.DISPATCHER), "派遣员")
    row.click()
    act(page, "dispatch", "派遣")
    expect(page.locator("#detail-body")).to_contain_text(unit)
    page.screenshot(path=str(ARTIFACTS / "console-dispatched.png"))

    login(page, console.token(Role.UNIT, unit), "专业部门")
    page.locator("tr[data-case-id]", has_text="鄂A·D3102").click()
    act(page, "handle", "处置", reason="已约谈驾驶员, 车辆密闭装置修复")
    login(page, console.token(Role.INSPECTOR), "监督员")
    row.click()
    act(page, "verify", "核查")
    login(page, console.token(Role.SHIFT_LEAD), "值班长")
    row.click()
    act(page, "close", "结案")
    timeline = page.locator('[data-testid="timeline"]')
    for step in ("受理", "立案", "派遣", "处置反馈", "核查通过", "结案"):
        expect(timeline).to_contain_text(step)
    page.uncheck("#open-only")
    expect(row.locator('[data-testid="stage"]')).to_have_text("结案")
    expect(page.locator("#tiles")).to_contain_text("结案率")
    page.screenshot(path=str(ARTIFACTS / "console.png"))
    assert (ARTIFACTS / "console.png").stat().st_size > 50_000


def test_a_token_never_stays_in_the_url(console: Console, page: Page) -> None:
    lead, intake = console.token(Role.SHIFT_LEAD), console.token(Role.INTAKE)
    page.goto(f"{console.server.url}/?view=1#token={lead}")
    expect(page.locator("#who")).to_contain_text("值班长")
    assert page.url == f"{console.server.url}/?view=1"
    assert page.evaluate("sessionStorage.getItem('cw-token')") == lead
    assert lead not in page.evaluate("history.state === null ? location.href : JSON.stringify(history.state)")
    page.reload()  # the tab keeps its login from sessionStorage, not from the URL
    expect(page.locator("#who")).to_contain_text("值班长")
    page.evaluate(f"location.hash = 'token={intake}'")  # a second link in the same tab
    expect(page.locator("#who")).to_contain_text("受理员")
    assert "token" not in page.url and page.evaluate("sessionStorage.getItem('cw-token')") == intake
    assert page.input_value("#token") == ""
    page.evaluate("location.hash = 'token=not-a-valid-token-0123456789'")
    expect(page.locator("#who")).to_have_text("未登录")
    assert "token" not in page.url and page.evaluate("sessionStorage.getItem('cw-token')") is None


def test_a_unit_console_shows_its_own_cases_and_asks_for_nothing_else(console: Console, page: Page) -> None:
    console.runner.process(console.later)
    by_unit: dict[str, int] = {}
    for c in console.store.cases():
        by_unit[c["unit"]] = by_unit.get(c["unit"], 0) + 1
    unit = max(by_unit, key=lambda u: by_unit[u])
    refused: list[str] = []
    page.on("response", lambda r: refused.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(f"{console.server.url}/#token={console.token(Role.UNIT, unit)}")
    expect(page.locator("#who")).to_contain_text("专业部门")
    page.uncheck("#open-only")
    expect(page.locator("tr[data-case-id]")).to_have_count(by_unit[unit])
    for cell in page.locator("#queue tr td:nth-child(6)").all_inner_texts():
        assert cell == unit
    expect(page.locator("#feed")).to_contain_text("仅指挥中心可见")
    expect(page.locator("#scores")).to_contain_text("仅指挥中心可见")
    expect(page.locator("#units tr")).to_have_count(2)  # the header and its own unit
    expect(page.locator("#units")).to_contain_text(unit)
    page.locator("tr[data-case-id]").first.click()
    expect(page.locator("#detail-body")).to_contain_text(unit)
    assert refused == []  # the console asks only for what a unit may read


def test_a_shift_lead_lifts_a_suspension_from_the_console_with_a_reason(console: Console, page: Page) -> None:
    from tickets import sanctions
    from tickets.kpi import CompanyScore

    company = "江城顺达渣土运输有限公司"
    with console.store.engine.begin() as conn:  # as the sweep does once the company crosses its threshold
        sanctions.suspend_over_threshold(conn, [CompanyScore(company, 12, 4, True)], 12, time.time_ns() // 1_000_000)
    page.on("dialog", lambda d: d.accept("整改完成, 车辆已复检"))
    page.goto(f"{console.server.url}/#token={console.token(Role.DISPATCHER)}")
    expect(page.locator("#scores")).to_contain_text("已暂停")
    expect(page.locator("button[data-lift]")).to_have_count(0)  # a dispatcher may not lift it
    login(page, console.token(Role.SHIFT_LEAD), "值班长")
    page.click(f'button[data-lift="{company}"]')
    expect(page.locator("#scores")).not_to_contain_text("已暂停", timeout=10_000)
    assert console.store.suspended_companies() == frozenset()
    (suspended, lifted) = console.store.company_history(company)
    assert suspended["action"] == "suspend"
    assert (lifted["action"], lifted["role"], lifted["reason"]) == ("lift", "shift_lead", "整改完成, 车辆已复检")
