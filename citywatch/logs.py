"""Structured logs: JSON lines for services, readable lines for people at a terminal.

Our own events go through structlog; the libraries' (aiokafka, faust, uvicorn, alembic ...) go through
the standard library's logging, whose root handler renders them with the same processors, so with
``--log-json`` every line on stderr is one JSON object with ``event``, ``level``, ``timestamp`` and,
for a library's line, ``logger``.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from typing import Any, TextIO

import structlog

_SHARED: list[structlog.typing.Processor] = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def _renderer(json: bool) -> structlog.typing.Processor:
    return structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)


def library_formatter(json: bool) -> logging.Formatter:
    """Return a stdlib formatter that renders a library's log record like our own lines."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_SHARED, structlog.processors.format_exc_info],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _renderer(json)],
    )


def logging_config(json: bool, level: str, stream: TextIO | None = None) -> dict[str, Any]:
    """Return the stdlib dictConfig for the libraries' records (faust's worker takes it as is)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"citywatch": {"()": library_formatter, "json": json}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "citywatch",
                "stream": stream or sys.stderr,
            }
        },
        "root": {"level": level, "handlers": ["default"]},
        # uvicorn's loggers carry handlers of their own unless told otherwise: send them to the root
        "loggers": {name: {"handlers": [], "propagate": True} for name in ("uvicorn", "uvicorn.error")},
    }


def configure_logging(json: bool, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Configure structlog and stdlib logging (to stderr unless another stream is given)."""
    out = stream or sys.stderr
    structlog.configure(
        processors=[*_SHARED, _renderer(json)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        # No caching: a cached logger keeps the processors of the configure() it first saw, so a later
        # reconfiguration (a second CLI call in one process, a test's capture_logs) would miss it.
        cache_logger_on_first_use=False,
    )
    logging.config.dictConfig(logging_config(json, level, out))
