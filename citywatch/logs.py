"""Structured logs: JSON lines for services, readable lines for people at a terminal."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure_logging(json: bool, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging (to stderr unless another stream is given)."""
    out = stream or sys.stderr
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # No caching: a cached logger keeps the processors of the configure() it first saw, so a later
        # reconfiguration (a second CLI call in one process, a test's capture_logs) would miss it.
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=out, format="%(levelname)s %(name)s: %(message)s", force=True)
