"""Transport-level hardening of the tickets API: body size, type and syntax, safe 422 answers, headers.

Bodies larger than ``MAX_BODY_BYTES`` are refused with 413 (``BodyLimit``, before any token check), bodies not
declared as JSON with 415, and bodies that are not strict RFC 8259 JSON in UTF-8 (NaN, Infinity,
invalid bytes) with 422. A validation error answers where and why the input failed but never
echoes the input: it may be huge or not printable, and must not turn a 422 into a 500.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024  # the largest valid body is a few kilobytes
CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def strict_json(body: bytes) -> Any:
    """Parse a UTF-8 JSON document without NaN / Infinity; raise json.JSONDecodeError for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise json.JSONDecodeError(f"not UTF-8 ({exc.reason})", "", exc.start) from exc
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # an integer of more than 4300 digits, nesting too deep
        raise json.JSONDecodeError(str(exc), "", 0) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed: numbers must be finite")


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed by ``strict_json``."""

    async def json(self) -> Any:
        """Return the parsed body (parsed once)."""
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An API route that reads JSON bodies strictly (FastAPI turns the decode error into a 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return FastAPI's handler, given a StrictJSONRequest."""
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def is_json(content_type: str) -> bool:
    """Tell whether a Content-Type header declares JSON (application/json or application/*+json)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


async def json_only(request: Request) -> None:
    """Refuse a non-empty request body that is not declared as JSON (415)."""
    if await request.body() and not is_json(request.headers.get("content-type", "")):
        raise HTTPException(415, "send the body as JSON (Content-Type: application/json)")


def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer 422 with the location, message and type of each error, without the offending input."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse({"detail": [_error(e) for e in errors], "error": "ValidationError"}, status_code=422)


def _error(e: dict[str, Any]) -> dict[str, Any]:
    msg = str(e.get("msg", ""))
    if e.get("type") == "json_invalid":
        msg = f"the body is not valid JSON: {e.get('ctx', {}).get('error', '')}"
    return {"loc": [_printable(p) for p in e.get("loc", ())], "msg": _printable(msg), "type": e.get("type")}


def _printable(part: object) -> int | str:
    """Return a location part that JSON can carry (unpaired surrogates in a key become escapes)."""
    if isinstance(part, int):
        return part
    return str(part).encode("utf-8", "backslashreplace").decode("utf-8")


class BodyLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413, answered by ``refuse`` (the app's error format).

    A declared Content-Length over the limit is answered at once, before the app reads a header; a
    streamed body is counted as the app reads it and stopped by an HTTPException the app's handlers answer.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, refuse: Callable[[], Response]) -> None:
        self.app, self.max_bytes, self.refuse = app, max_bytes, refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a declared oversize body, or pass the request on with its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_bytes:
            await self.refuse()(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b"")) if message["type"] == "http.request" else 0
            if seen > self.max_bytes:
                raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)


TOO_LARGE = "Content Too Large"


def _declared_length(scope: Scope) -> int:
    """Return the request's Content-Length, or 0 when it has none or an unreadable one."""
    try:
        return int(Headers(scope=scope).get("content-length", "0"))
    except ValueError:
        return 0


class SecurityHeaders:
    """ASGI middleware: no framing, no MIME sniffing, no referrer, a same-origin CSP; API answers are not cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.update(HEADERS)
                if api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
