"""Stand-ins for the notification providers on loopback: each records every request and answers as scripted."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Request:
    """One request as the provider received it."""

    method: str
    path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        """Return the query parameters, decoded (one value each)."""
        return {k: v[0] for k, v in parse_qs(self.raw_query).items()}

    def json(self) -> Any:
        """Return the body as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """A scripted answer: a status, a JSON body (None: no body), and how long to stall before it."""

    status: int
    body: Any = None
    delay_s: float = 0.0


ROBOT_OK = Answer(200, {"errcode": 0, "errmsg": "ok"})


class FakeProvider:
    """A provider on a loopback port: scripted answers first, then `ok` (those requests count as accepted)."""

    def __init__(self, ok: Answer = ROBOT_OK) -> None:
        self.ok = ok
        self.script: deque[Answer | None] = deque()
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        """Return the port the provider listens on."""
        assert self.server is not None
        return int(self.server.server_address[1])

    def url(self, path: str = "/") -> str:
        """Return a URL of this provider."""
        return f"http://127.0.0.1:{self.port}{path}"

    def fail(self, *answers: Answer | None) -> None:
        """Answer the next requests with these in order (None: `ok`), then `ok` again."""
        self.script.extend(answers)

    def release(self) -> None:
        """Answer every stalled request now."""
        self._release.set()

    def start(self) -> FakeProvider:
        """Listen on a free loopback port."""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                provider._handle(self)

            def do_PUT(self) -> None:
                provider._handle(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        parts = urlsplit(handler.path)
        request = Request(handler.command, parts.path, parts.query, dict(handler.headers.items()), body)
        with self._lock:
            self.requests.append(request)
            answer = self.script.popleft() if self.script else None
            if answer is None:
                self.accepted.append(request)
        answer = answer or self.ok
        if answer.delay_s:
            self._release.wait(answer.delay_s)
        try:
            handler.send_response(answer.status)
            payload = json.dumps(answer.body).encode() if answer.body is not None else b""
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:
            pass  # the client gave up waiting (a timeout test)

    def stop(self) -> None:
        """Release stalled answers and stop listening."""
        self.release()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
