"""Provision Grafana over its HTTP API (grafana-client): datasources, folder, dashboards — idempotently.

Each object is looked up by its fixed uid first, created when missing, updated only when it differs
from what the code says, and left alone otherwise, so running ``push`` twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import structlog
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from dashboards.build import DATASOURCE_UID
from dashboards.pipeline import PROMETHEUS_UID, PROMETHEUS_URL

log = structlog.get_logger("dashboards.push")
Json = dict[str, Any]
FOLDER_UID = "citywatch"
VOLATILE = ("id", "version")  # fields Grafana adds to what we sent


@dataclass(frozen=True)
class InfluxSource:
    """The InfluxDB as Grafana's server reaches it (1.8: token 'user:password', bucket 'db/rp')."""

    url: str
    token: str
    org: str
    bucket: str


@dataclass
class PushResult:
    """What push did to each object: created, updated or unchanged."""

    datasource: str = ""
    folder: str = ""
    dashboards: dict[str, str] = field(default_factory=dict)
    prometheus: str = ""

    @property
    def changed(self) -> bool:
        """Tell whether anything was created or updated."""
        done = [self.datasource, self.prometheus, self.folder, *self.dashboards.values()]
        return any(s != "unchanged" for s in done)


def connect(url: str, credential: str | None) -> GrafanaApi:
    """Return a client; a credential with a colon is 'user:password', otherwise an API token."""
    auth: Any = tuple(credential.split(":", 1)) if credential and ":" in credential else credential
    api = GrafanaApi.from_url(url, credential=auth, timeout=10.0)
    api.connect()
    return api


def datasource_model(source: InfluxSource) -> Json:
    """Return the Flux datasource as Grafana stores it (the token goes to secureJsonData)."""
    return {
        "uid": DATASOURCE_UID,
        "name": "citywatch InfluxDB (Flux)",
        "type": "influxdb",
        "access": "proxy",
        "url": source.url,
        "isDefault": True,
        "jsonData": {
            "version": "Flux",
            "organization": source.org,
            "defaultBucket": source.bucket,
            "httpMode": "POST",
            "timeInterval": "10s",
        },
        "secureJsonData": {"token": source.token},
    }


def prometheus_model(url: str = PROMETHEUS_URL) -> Json:
    """Return the Prometheus datasource of the pipeline-health board (no secret: Prometheus is inside the stack)."""
    return {
        "uid": PROMETHEUS_UID,
        "name": "citywatch Prometheus",
        "type": "prometheus",
        "access": "proxy",
        "url": url,
        "isDefault": False,
        "jsonData": {"httpMethod": "POST", "timeInterval": "15s", "prometheusType": "Prometheus"},
    }


def _missing(exc: GrafanaClientError) -> bool:
    return exc.status_code == 404


def _same(existing: Json, wanted: Json) -> bool:
    return all(existing.get(k) == v for k, v in wanted.items())


def ensure_datasource(api: GrafanaApi, model: Json, force: bool = False) -> str:
    """Create or update a datasource; its secrets are only re-sent when they are new or force is set."""
    try:
        existing = api.datasource.get_datasource_by_uid(model["uid"])
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        api.datasource.create_datasource(model)
        return "created"
    plain = {k: v for k, v in model.items() if k != "secureJsonData"}
    secrets_kept = all(existing.get("secureJsonFields", {}).get(k) for k in model.get("secureJsonData", {}))
    if not force and _same(existing, plain) and secrets_kept:
        return "unchanged"
    api.datasource.update_datasource_by_uid(model["uid"], {**model, "id": existing.get("id")})
    return "updated"


def ensure_folder(api: GrafanaApi, uid: str, title: str) -> str:
    """Create the folder or fix its title."""
    try:
        existing = api.folder.get_folder(uid)
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        api.folder.create_folder(title, uid=uid)
        return "created"
    if existing.get("title") == title:
        return "unchanged"
    api.folder.update_folder(uid, title=title, overwrite=True)
    return "updated"


def ensure_dashboard(api: GrafanaApi, model: Json, folder_uid: str) -> str:
    """Create or overwrite the dashboard with this uid when it differs from the model."""
    try:
        current = api.dashboard.get_dashboard(model["uid"])
    except GrafanaClientError as exc:
        if not _missing(exc):
            raise
        current = None
    if current is not None:
        stored = {k: v for k, v in current["dashboard"].items() if k not in VOLATILE}
        if stored == model and current.get("meta", {}).get("folderUid") == folder_uid:
            return "unchanged"
    api.dashboard.update_dashboard(
        {"dashboard": model, "folderUid": folder_uid, "overwrite": True, "message": "citywatch dashboards push"}
    )
    return "created" if current is None else "updated"


def push(
    api: GrafanaApi,
    source: InfluxSource,
    boards: list[Json],
    folder_title: str,
    force: bool = False,
    prometheus_url: str = PROMETHEUS_URL,
) -> PushResult:
    """Provision both datasources, the folder and every dashboard; return what changed."""
    result = PushResult(
        ensure_datasource(api, datasource_model(source), force),
        ensure_folder(api, FOLDER_UID, folder_title),
        prometheus=ensure_datasource(api, prometheus_model(prometheus_url), force),
    )
    for board in boards:
        result.dashboards[board["uid"]] = ensure_dashboard(api, board, FOLDER_UID)
    log.info(
        "grafana.pushed",
        datasource=result.datasource,
        prometheus=result.prometheus,
        folder=result.folder,
        **result.dashboards,
    )
    return result
