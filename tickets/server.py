"""Run the tickets API with uvicorn: in the foreground (``citywatch tickets serve``) or on a thread (demo, tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from tickets.api import create_app
from tickets.errors import TicketError
from tickets.service import TicketService


def uvicorn_server(
    service: TicketService, host: str, port: int, extend: Callable[[FastAPI], None] | None = None
) -> uvicorn.Server:
    """Return a uvicorn server for the service's app (no access log: the API logs actions itself).

    uvicorn's own logging setup is skipped (log_config=None): its lines go to the process's root
    logger, which renders them like every other line (JSON with --log-json).
    """
    app = create_app(service)
    if extend is not None:
        extend(app)  # e.g. /metrics and the request latency histogram of the process
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    return uvicorn.Server(config)


class ServerThread:
    """The API on a background thread; start() returns once it accepts connections."""

    def __init__(
        self,
        service: TicketService,
        host: str = "127.0.0.1",
        port: int = 0,
        extend: Callable[[FastAPI], None] | None = None,
    ) -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.server = uvicorn_server(service, host, self.port, extend)
        self.thread = threading.Thread(target=self.server.run, name="tickets-api", daemon=True)

    @property
    def url(self) -> str:
        """Return the base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerThread:
        """Start serving; raise if not up within timeout."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise TicketError(f"the tickets API did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
