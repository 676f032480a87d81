"""``/healthz`` and ``/metrics`` of a long-running citywatch process.

``/healthz``: 200 when every part works, else 503, as JSON; ``/metrics``: Prometheus's text format.
A small standard-library HTTP server on its own thread, so it answers while the pipeline is busy
or stuck; docker compose's healthchecks, Prometheus and an operator's curl read it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry

from citywatch.metrics import CONTENT_TYPE, exposition

Probe = Callable[[], dict[str, Any]]  # returns {"ok": bool, ...details}


class HealthServer:
    """Serves ``GET /healthz`` from a probe, and ``GET /metrics`` from a registry, until stopped."""

    def __init__(self, host: str, port: int, probe: Probe, registry: CollectorRegistry | None = None) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(probe, registry))
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


def _handler(probe: Probe, registry: CollectorRegistry | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics" and registry is not None:
                self._send_bytes(200, exposition(registry), CONTENT_TYPE)
                return
            if path != "/healthz":
                self._send(404, {"error": "not found; try /healthz" + (" or /metrics" if registry else "")})
                return
            try:
                report = probe()
            except Exception as exc:
                report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            self._send(200 if report.get("ok") else 503, report)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False, default=str).encode()
            self._send_bytes(status, data, "application/json; charset=utf-8")

        def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: probes come every few seconds
            return

    return Handler
