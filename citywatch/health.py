"""``/healthz`` of a long-running citywatch process: 200 when every part works, else 503, as JSON.

A small standard-library HTTP server on its own thread, so it answers while the pipeline is busy
or stuck; docker compose's healthchecks and an operator's curl read it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Probe = Callable[[], dict[str, Any]]  # returns {"ok": bool, ...details}


class HealthServer:
    """Serves ``GET /healthz`` from a probe until stopped."""

    def __init__(self, host: str, port: int, probe: Probe) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(probe))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="healthz", daemon=True)

    @property
    def port(self) -> int:
        """Return the port it listens on (useful when asked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        """Start answering; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _handler(probe: Probe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/healthz":
                self._send(404, {"error": "not found; try /healthz"})
                return
            try:
                report = probe()
            except Exception as exc:
                report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self._send(200 if report.get("ok") else 503, report)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: probes come every few seconds
            return

    return Handler
