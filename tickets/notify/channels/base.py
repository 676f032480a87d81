"""What every channel shares: the message it sends, and the HTTP call with the robots' answer check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from tickets.notify.errors import ChannelFailed
from tickets.notify.message import Notice


@dataclass(frozen=True, slots=True)
class Message:
    """One message: a single event's notice, or a digest of several; with the phones to @ (robots) or text (SMS)."""

    notices: tuple[Notice, ...]
    mentions: tuple[str, ...] = ()

    @property
    def digest(self) -> bool:
        """Tell whether the message covers several events."""
        return len(self.notices) > 1


class Channel(Protocol):
    """A named destination with a message budget."""

    name: str
    per_minute: int

    def send(self, message: Message, now_ms: int) -> None:
        """Deliver a message; raise ChannelFailed unless the provider accepted it."""

    def close(self) -> None:
        """Release the channel's connections."""


class HttpChannel:
    """Base of the channels that speak HTTP: a name, a budget, one httpx client."""

    def __init__(self, name: str, per_minute: int, digest_lines: int, timeout_s: float) -> None:
        self.name, self.per_minute, self.digest_lines = name, per_minute, digest_lines
        self.client = httpx.Client(timeout=timeout_s)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Make a request; a network error becomes ChannelFailed (without the URL: it may carry a key)."""
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise ChannelFailed(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


def robot_answer(resp: httpx.Response, busy_codes: frozenset[int]) -> None:
    """Raise ChannelFailed unless a robot answered HTTP 200 with errcode 0 (busy codes: rate limited)."""
    if resp.status_code != 200:
        raise ChannelFailed(f"HTTP {resp.status_code}", rate_limited=resp.status_code == 429)
    try:
        answer = resp.json()
    except ValueError as exc:
        raise ChannelFailed(f"HTTP 200 but not JSON: {resp.text[:200]!r}") from exc
    code = answer.get("errcode") if isinstance(answer, dict) else None
    if code != 0:
        message = answer.get("errmsg") if isinstance(answer, dict) else None
        raise ChannelFailed(f"errcode {code}: {message}", rate_limited=code in busy_codes)
