"""`citywatch tickets report --month 2026-11` (issue 10, part 4) on the real PostgreSQL and InfluxDB: the
unit rates, the 红黑榜, the violation kinds and the terminals' online rates in the PDF and CSV files."""

from __future__ import annotations

import csv
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from citywatch.cli import main
from devices.contracts import DeviceStatus, VehiclePosition
from devices.inventory import City
from rules.alerts import Alert, Phase, Severity, alert_id
from rules.params import params_of
from streams.timeseries.schema import Tagger, event_lines
from tests.conftest import Influx
from tests.tickets.conftest import Clock, at
from tickets.config import config_for_city
from tickets.lifecycle import Action, Actor, Command, Role
from tickets.routing import CityResolver
from tickets.store import TicketStore

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "cities" / "demo"
LEAD, INSPECTOR = Actor("值班长", Role.SHIFT_LEAD), Actor("监督员", Role.INSPECTOR)
SHUNDA, CHUYUN, HANNAN = "江城顺达渣土运输有限公司", "楚运建筑垃圾清运有限公司", "汉南土方运输有限公司"


def violation(store: TicketStore, city: City, rule: str, subject: str, when: str) -> int:
    """Open and clear one episode of a truck's violation; return its case id."""
    t = at(when)
    store.apply(
        [
            Alert(
                alert_id(rule, subject, t),
                rule,
                phase,
                subject,
                t + (60_000 if phase is Phase.CLEAR else 0),
                t,
                114.3,
                30.59,
                Severity.MAJOR,
                params_of(city).matter_codes[rule],
                {},
            )
            for phase in (Phase.OPEN, Phase.CLEAR)
        ]
    )
    return max(c["case_id"] for c in store.cases())


def walk(store: TicketStore, case_id: int, steps: list[tuple[Action, str]]) -> None:
    """Take a case through actions at local times (the unit acts as the case's own unit)."""
    for action, when in steps:
        unit = store.case(case_id)["unit"]
        actor = {Action.HANDLE: Actor("处置员", Role.UNIT, unit), Action.VERIFY: INSPECTOR}.get(action, LEAD)
        reason = "误报: 定位漂移" if action is Action.VOID else None
        store.act(case_id, Command(action, reason=reason), actor, at_ms=at(when))


@pytest.fixture
def november(postgres_url: str, city: City) -> str:
    """A ticket database with November's cases (and one of December's); return its URL."""
    config = config_for_city(DEMO)
    clock = Clock(at("2026-11-03 09:00"))
    store = TicketStore(postgres_url, config, CityResolver(config, city), clock=clock, matter_names=city.meta.matters)
    closed = violation(store, city, "route_deviation", "gps-m01", "2026-11-03 09:00")
    walk(
        store,
        closed,
        [
            (Action.ACCEPT, "2026-11-03 09:05"),
            (Action.REGISTER, "2026-11-03 09:10"),
            (Action.DISPATCH, "2026-11-03 09:15"),
            (Action.HANDLE, "2026-11-03 11:00"),
            (Action.VERIFY, "2026-11-03 11:30"),
            (Action.CLOSE, "2026-11-03 11:40"),
        ],
    )
    late = violation(store, city, "speeding", "gps-m03", "2026-11-04 10:00")
    walk(
        store,
        late,
        [
            (Action.ACCEPT, "2026-11-04 10:05"),
            (Action.REGISTER, "2026-11-04 10:10"),
            (Action.DISPATCH, "2026-11-04 10:15"),
            (Action.HANDLE, "2026-11-10 10:00"),
        ],
    )  # 1d allowed
    voided = violation(store, city, "route_deviation", "gps-m05", "2026-11-05 10:00")
    walk(store, voided, [(Action.VOID, "2026-11-05 10:10")])
    violation(store, city, "route_deviation", "gps-m02", "2026-11-20 10:00")  # nobody has looked at it yet
    violation(store, city, "route_deviation", "gps-m04", "2026-12-01 10:00")  # December's
    store.close()
    return postgres_url


def write_traffic(influx: Influx, city: City) -> None:
    """Ten minutes of 10 November: gps-m01 every 10 s (one message twice), gps-m03 every 20 s, the rest
    silent; cam-01 online for the first half, cam-02 online since October."""
    t0 = at("2026-11-10 10:00")

    def fix(device: str, ts: int, seq: int) -> VehiclePosition:
        return VehiclePosition(
            device_id=device, ts_ms=ts, seq=seq, lon=114.3, lat=30.59, speed_kmh=20.0, heading_deg=90.0
        )

    events = [fix("gps-m01", t0 + i * 10_000, i) for i in range(60)] + [fix("gps-m01", t0, 0)]
    events += [fix("gps-m03", t0 + i * 20_000, i) for i in range(30)]
    events += [
        DeviceStatus(device_id="cam-01", ts_ms=t0, seq=0, state="online"),
        DeviceStatus(device_id="cam-01", ts_ms=t0 + 300_000, seq=1, state="offline"),
        DeviceStatus(device_id="cam-02", ts_ms=at("2026-10-25 08:00"), seq=0, state="online"),
    ]
    with InfluxDBClient(url=influx.url, token=influx.token, org=influx.org) as client:
        client.write_api(write_options=SYNCHRONOUS).write(
            influx.bucket, record=event_lines(events, Tagger(city)), write_precision=WritePrecision.MS
        )


def env(db_url: str, influx: Influx | None) -> dict[str, str | None]:
    series = (
        {
            "CITYWATCH_INFLUX_URL": influx.url,
            "CITYWATCH_INFLUX_TOKEN": influx.token,
            "CITYWATCH_INFLUX_ORG": influx.org,
            "CITYWATCH_INFLUX_BUCKET": influx.bucket,
        }
        if influx
        else {"CITYWATCH_INFLUX_URL": None}
    )
    return {"CITYWATCH_TICKET_DB_URL": db_url, "CITYWATCH_CITY_DIR": str(DEMO), **series}


def report(out: Path, db_url: str, influx: Influx | None, month: str = "2026-11") -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        ["tickets", "report", "--month", month, "--out", str(out)],
        env=env(db_url, influx),
        catch_exceptions=False,
    )
    return result.exit_code, result.output


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [{k.split(" ")[0]: v for k, v in r.items()} for r in csv.DictReader(f)]


def pages(path: Path) -> list[str]:
    return [p.extract_text() for p in pypdf.PdfReader(path).pages]


def test_the_monthly_report_grades_units_companies_kinds_and_terminals(
    november: str, influx_db: Influx, city: City, tmp_path: Path
) -> None:
    write_traffic(influx_db, city)
    code, out = report(tmp_path, november, influx_db)
    assert code == 0 and "no InfluxDB" not in out, out
    units = {r["unit"]: r for r in rows(tmp_path / "report-2026-11-units.csv")}
    overall = units.pop("合计")
    assert {
        k: overall[k]
        for k in (
            "cases",
            "dispatched",
            "handled",
            "handled_rate",
            "on_time",
            "on_time_rate",
            "registered",
            "closed",
            "closed_rate",
        )
    } == {
        "cases": "3",
        "dispatched": "2",
        "handled": "2",
        "handled_rate": "1.0000",
        "on_time": "1",
        "on_time_rate": "0.5000",
        "registered": "2",
        "closed": "1",
        "closed_rate": "0.5000",
    }  # void and December out
    assert sum(int(u["cases"]) for u in units.values()) == 3 and all(u["unit"] != "未指定" for u in units.values())

    companies = {r["company"]: r for r in rows(tmp_path / "report-2026-11-companies.csv")}
    assert {
        c: (r["cases"], r["points"], r["points_per_vehicle"], r["online_rate"], r["board"])
        for c, r in companies.items()
        if c in (SHUNDA, CHUYUN, HANNAN)
    } == {
        SHUNDA: ("1", "3", "1.50", "0.5000", "黑榜"),  # gps-m02's case is not confirmed: not counted
        CHUYUN: ("1", "3", "1.50", "0.2500", "黑榜"),  # gps-m03 half its reports, gps-m04 none
        HANNAN: ("0", "0", "0.00", "0.0000", ""),
    }  # voided: no points, but its terminals were silent

    matters = [
        (r["code"], r["cases"], r["confirmed"], r["voided"]) for r in rows(tmp_path / "report-2026-11-matters.csv")
    ]
    assert matters == [("08101", "3", "1", "1"), ("08104", "1", "1", "0")]

    devices = {r["device_id"]: r for r in rows(tmp_path / "report-2026-11-devices.csv")}
    assert (devices["gps-m01"]["expected"], devices["gps-m01"]["received"]) == ("60.0", "60")  # the repeat kept once
    assert [devices[d]["online_rate"] for d in ("gps-m01", "gps-m03", "gps-m02", "cam-01", "cam-02")] == [
        "1.0000",
        "0.5000",
        "0.0000",
        "0.5000",
        "1.0000",
    ]

    text = pages(tmp_path / "report-2026-11.pdf")
    assert len(text) >= 5  # summary, units, companies, kinds, then terminals (over as many pages as they need)
    assert "2026年11月" in text[0] and "平台在线 10 分钟" in text[0]
    assert "一、处置单位考评" in text[1] and all(u in text[1] for u in units)
    assert "红黑榜" in text[2] and SHUNDA in text[2] and "黑榜" in text[2]
    assert "渣土车未按规定路线行驶" in text[3] and "渣土车超速行驶" in text[3]
    terminals = "".join(text[4:])
    assert "四、终端在线率" in text[4] and "cam-01" in terminals and "gps-m03" in terminals and "AI 摄像头" in terminals


def test_without_time_series_the_report_says_it_has_no_online_rates(november: str, tmp_path: Path) -> None:
    code, out = report(tmp_path, november, None)
    assert code == 0 and "no InfluxDB configured" in out
    assert "未配置时序数据库" in pages(tmp_path / "report-2026-11.pdf")[4]
    assert rows(tmp_path / "report-2026-11-online.csv") == []


def test_a_month_that_is_not_yyyy_mm_is_refused_before_anything_is_written(november: str, tmp_path: Path) -> None:
    code, out = report(tmp_path / "out", november, None, month="2026-13")
    assert code != 0 and "expected YYYY-MM, e.g. 2026-11" in out and not (tmp_path / "out").exists()
