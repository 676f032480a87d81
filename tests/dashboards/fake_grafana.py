"""A small stateful fake of Grafana's HTTP API on loopback: what grafana-client calls for provisioning.

It keeps datasources, folders and dashboards in memory like Grafana does (ids, versions that go up on
every save, 404 for unknown uids, 409 for duplicates, secrets write-only) and records every request.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

VERSION = "11.3.0"
Json = dict[str, Any]


@dataclass
class State:
    """What the fake Grafana stores."""

    datasources: dict[str, Json] = field(default_factory=dict)
    folders: dict[str, Json] = field(default_factory=dict)
    dashboards: dict[str, Json] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def writes(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] != "GET"]


class Reply(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


def _not_found(what: str) -> Reply:
    return Reply(404, {"message": f"{what} not found"})


def _get(items: dict[str, Json], uid: str, what: str) -> Json:
    if uid not in items:
        raise _not_found(what)
    return items[uid]


def _datasource_view(ds: Json) -> Json:
    view = {k: v for k, v in ds.items() if k != "secureJsonData"}
    view["secureJsonFields"] = dict.fromkeys(ds.get("secureJsonData", {}), True)
    return view


def _save_datasource(state: State, body: Json, existing: Json | None) -> Json:
    secure = {**(existing or {}).get("secureJsonData", {}), **body.get("secureJsonData", {})}
    ds = {
        **body,
        "id": existing["id"] if existing else state.new_id(),
        "secureJsonData": secure,
        "version": (existing or {}).get("version", 0) + 1,
    }
    state.datasources[ds["uid"]] = ds
    return ds


def route(state: State, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
    """Answer one API call (path without the /api prefix)."""
    parts = path.strip("/").split("/")
    if method == "GET" and parts == ["health"]:
        return {"commit": "fake", "database": "ok", "version": VERSION}
    if method == "GET" and parts == ["frontend", "settings"]:
        return {"buildInfo": {"version": VERSION, "commit": "fake", "edition": "Open Source"}}
    if parts[0] == "datasources":
        return _datasources(state, method, parts[1:], body)
    if parts[0] == "folders":
        return _folders(state, method, parts[1:], body)
    if parts[0] == "dashboards":
        return _dashboards(state, method, parts[1:], body)
    if method == "GET" and parts == ["search"]:
        return _search(state, query)
    raise Reply(404, {"message": "Not found"})


def _datasources(state: State, method: str, rest: list[str], body: Any) -> Any:
    if method == "GET" and not rest:
        return [_datasource_view(d) for d in state.datasources.values()]
    if method == "POST" and not rest:
        if body.get("uid") in state.datasources or any(d["name"] == body["name"] for d in state.datasources.values()):
            raise Reply(409, {"message": "data source with the same name or uid already exists"})
        ds = _save_datasource(state, body, None)
        return {"datasource": _datasource_view(ds), "id": ds["id"], "name": ds["name"], "message": "Datasource added"}
    if len(rest) == 2 and rest[0] == "uid":
        existing = _get(state.datasources, rest[1], "Data source")
        if method == "GET":
            return _datasource_view(existing)
        if method == "PUT":
            ds = _save_datasource(state, {**body, "uid": rest[1]}, existing)
            return {"datasource": _datasource_view(ds), "id": ds["id"], "message": "Datasource updated"}
    raise Reply(404, {"message": "Not found"})


def _folders(state: State, method: str, rest: list[str], body: Any) -> Any:
    if method == "GET" and not rest:
        return [{"id": f["id"], "uid": f["uid"], "title": f["title"]} for f in state.folders.values()]
    if method == "POST" and not rest:
        uid = body.get("uid") or f"f{state.next_id}"
        if uid in state.folders:
            raise Reply(409, {"message": "a folder with the same uid already exists"})
        state.folders[uid] = {"id": state.new_id(), "uid": uid, "title": body["title"], "version": 1}
        return state.folders[uid]
    if len(rest) == 1:
        folder = _get(state.folders, rest[0], "Folder")
        if method == "GET":
            return folder
        if method == "PUT":
            folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
            return folder
    raise Reply(404, {"message": "Not found"})


def _dashboards(state: State, method: str, rest: list[str], body: Any) -> Any:
    if method == "POST" and rest == ["db"]:
        return _save_dashboard(state, body)
    if method == "GET" and len(rest) == 2 and rest[0] == "uid":
        saved = _get(state.dashboards, rest[1], "Dashboard")
        return {
            "dashboard": saved["dashboard"],
            "meta": {"folderUid": saved["folderUid"], "version": saved["dashboard"]["version"]},
        }
    raise Reply(404, {"message": "Not found"})


def _save_dashboard(state: State, body: Json) -> Json:
    model, folder_uid = dict(body["dashboard"]), body.get("folderUid", "")
    if folder_uid and folder_uid not in state.folders:
        raise Reply(400, {"message": "folder not found"})
    if not model.get("uid") or not model.get("title"):
        raise Reply(400, {"message": "Dashboard title and uid are required"})
    existing = state.dashboards.get(model["uid"])
    if existing and not body.get("overwrite"):
        raise Reply(412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"})
    model["id"] = existing["dashboard"]["id"] if existing else state.new_id()
    model["version"] = existing["dashboard"]["version"] + 1 if existing else 1
    state.dashboards[model["uid"]] = {"dashboard": model, "folderUid": folder_uid}
    return {
        "id": model["id"],
        "uid": model["uid"],
        "status": "success",
        "version": model["version"],
        "url": f"/d/{model['uid']}/x",
    }


def _search(state: State, query: dict[str, list[str]]) -> list[Json]:
    tags = set(query.get("tag", []))
    return [
        {
            "uid": d["dashboard"]["uid"],
            "title": d["dashboard"]["title"],
            "type": "dash-db",
            "tags": d["dashboard"].get("tags", []),
            "folderUid": d["folderUid"],
        }
        for d in state.dashboards.values()
        if tags <= set(d["dashboard"].get("tags", []))
    ]


def handler_for(state: State, credential: tuple[str, str]) -> type[BaseHTTPRequestHandler]:
    """Return a request handler class bound to the state; only the given basic-auth user gets in."""
    expected = "Basic " + base64.b64encode(":".join(credential).encode()).decode()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                if not url.path.startswith("/api/"):
                    raise Reply(404, {"message": "Not found"})
                if self.headers.get("Authorization") != expected:
                    raise Reply(401, {"message": "Unauthorized"})
                with lock:
                    state.requests.append((self.command, url.path))
                    reply = Reply(
                        200,
                        route(state, self.command, url.path[4:], parse_qs(url.query), json.loads(raw) if raw else None),
                    )
            except Reply as r:
                reply = r
            data = json.dumps(reply.body).encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler


class FakeGrafana:
    """The fake server on 127.0.0.1 (a free port), serving on a thread until stopped."""

    def __init__(self, user: str = "admin", password: str = "s3cret") -> None:
        self.state = State()
        self.credential = (user, password)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self.state, self.credential))
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-grafana", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
