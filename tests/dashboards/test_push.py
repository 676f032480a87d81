"""`citywatch dashboards push` against a stateful fake of Grafana's HTTP API on loopback."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from grafana_client.client import GrafanaUnauthorizedError

from citywatch.cli import main
from dashboards.build import DATASOURCE_UID, dashboards
from dashboards.pipeline import PROMETHEUS_UID
from dashboards.push import FOLDER_UID, InfluxSource, connect, push
from tests.dashboards.fake_grafana import FakeGrafana

SOURCE = InfluxSource("http://influxdb:8086", "citywatch:pw", "-", "citywatch/autogen")


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    with FakeGrafana() as fake:
        yield fake


def test_push_creates_everything_then_changes_nothing(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, "admin:s3cret")
    first = push(api, SOURCE, dashboards(), "Citywatch")
    assert first.datasource == "created" and first.prometheus == "created" and first.folder == "created"
    assert set(first.dashboards.values()) == {"created"} and len(first.dashboards) == 6
    writes = len(grafana.state.writes())
    second = push(api, SOURCE, dashboards(), "Citywatch")
    assert not second.changed and len(grafana.state.writes()) == writes
    ds = grafana.state.datasources[DATASOURCE_UID]
    assert ds["jsonData"]["version"] == "Flux" and ds["secureJsonData"] == {"token": "citywatch:pw"}
    assert all(
        d["folderUid"] == FOLDER_UID and d["dashboard"]["version"] == 1 for d in grafana.state.dashboards.values()
    )


def _datasource_uids(value: object) -> set[str]:
    """Return every datasource uid a dashboard model refers to (panels, targets, variables)."""
    if isinstance(value, dict):
        here = {value["datasource"]["uid"]} if isinstance(value.get("datasource"), dict) else set()
        return here.union(*(_datasource_uids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_datasource_uids(v) for v in value))
    return set()


def test_push_provisions_every_datasource_the_boards_use(grafana: FakeGrafana) -> None:
    push(connect(grafana.url, "admin:s3cret"), SOURCE, dashboards(), "Citywatch")
    prometheus = grafana.state.datasources[PROMETHEUS_UID]
    assert prometheus["type"] == "prometheus" and prometheus["url"] == "http://prometheus:9090"
    assert not prometheus["isDefault"] and prometheus["secureJsonData"] == {}
    saved = [d["dashboard"] for d in grafana.state.dashboards.values()]
    assert {d["uid"] for d in saved} >= {"cw-fleet", "cw-pipeline"}
    assert set().union(*(_datasource_uids(d) for d in saved)) == {DATASOURCE_UID, PROMETHEUS_UID}
    assert set(grafana.state.datasources) == {DATASOURCE_UID, PROMETHEUS_UID}
    assert [d["isDefault"] for d in grafana.state.datasources.values()].count(True) == 1


def test_a_moved_prometheus_is_updated_and_nothing_else(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, "admin:s3cret")
    push(api, SOURCE, dashboards(), "Citywatch")
    moved = push(api, SOURCE, dashboards(), "Citywatch", prometheus_url="http://prometheus-2:9090")
    assert moved.prometheus == "updated" and moved.datasource == "unchanged"
    assert set(moved.dashboards.values()) == {"unchanged"}
    assert grafana.state.datasources[PROMETHEUS_UID]["url"] == "http://prometheus-2:9090"


def test_push_updates_only_what_differs(grafana: FakeGrafana) -> None:
    api = connect(grafana.url, "admin:s3cret")
    push(api, SOURCE, dashboards(), "Citywatch")
    boards = copy.deepcopy(dashboards())
    boards[2]["title"] += " (v2)"
    moved = InfluxSource("http://influx2:8086", SOURCE.token, SOURCE.org, SOURCE.bucket)
    result = push(api, moved, boards, "Citywatch 城管")
    assert result.datasource == "updated" and result.folder == "updated" and result.prometheus == "unchanged"
    assert result.dashboards == {b["uid"]: ("updated" if b["uid"] == "cw-facilities" else "unchanged") for b in boards}
    assert grafana.state.dashboards["cw-facilities"]["dashboard"]["version"] == 2
    assert grafana.state.folders[FOLDER_UID]["title"] == "Citywatch 城管"


def test_wrong_credentials_are_refused(grafana: FakeGrafana) -> None:
    with pytest.raises(GrafanaUnauthorizedError):
        connect(grafana.url, "admin:wrong")


def test_cli_push_twice_is_idempotent(grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "GRAFANA_URL": grafana.url,
        "GRAFANA_TOKEN": "admin:s3cret",
        "INFLUX_URL": SOURCE.url,
        "INFLUX_TOKEN": SOURCE.token,
        "INFLUX_BUCKET": SOURCE.bucket,
    }.items():
        monkeypatch.setenv(f"CITYWATCH_{key}", value)
    runs = [CliRunner().invoke(main, ["dashboards", "push"], catch_exceptions=False) for _ in range(2)]
    assert [r.exit_code for r in runs] == [0, 0], runs[0].output
    first, second = (json.loads(r.stdout[r.stdout.index('{\n  "datasource"') :]) for r in runs)
    assert first["datasource"] == "created" and set(first["dashboards"].values()) == {"created"}
    assert second == {
        "datasource": "unchanged",
        "prometheus": "unchanged",
        "folder": "unchanged",
        "dashboards": dict.fromkeys(first["dashboards"], "unchanged"),
    }
