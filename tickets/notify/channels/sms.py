"""SMS through a configurable HTTP gateway: the request is a template, the provider's yes a configured check.

The body (JSON or form) and the headers are templates whose strings may hold {phone} (one request
per recipient) or {phones} (comma-joined, one request), {text}, {sign_name}, {api_key} (from
key_env), {timestamp} (Unix seconds), {event_id} and {case_no}. Success is HTTP 2xx and, when
``success.field`` is set, that dotted path of the JSON answer equal to ``success.equals``. An
optional HMAC header signs the body as tickets.outbox does. The text is kept to the carrier
budget: 70 characters for one segment, the 【signature】 included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from tickets.notify.channels.base import HttpChannel, Message
from tickets.notify.config import PLACEHOLDER, SmsConfig, SmsSuccess
from tickets.notify.errors import ChannelFailed
from tickets.notify.message import sms_text
from tickets.outbox import signature


def fill(template: Any, values: Mapping[str, str]) -> Any:
    """Return the template with every {placeholder} in its strings replaced by its value."""
    if isinstance(template, str):
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
    if isinstance(template, Mapping):
        return {k: fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    return template


def lookup(answer: Any, path: str) -> Any:
    """Return the value at a dotted path of a JSON answer (None where the path leads nowhere)."""
    for key in path.split("."):
        if isinstance(answer, list) and key.isdigit() and int(key) < len(answer):
            answer = answer[int(key)]
        elif isinstance(answer, dict):
            answer = answer.get(key)
        else:
            return None
    return answer


def check(resp: httpx.Response, success: SmsSuccess) -> None:
    """Raise ChannelFailed unless the gateway's answer is a success."""
    if not 200 <= resp.status_code < 300:
        raise ChannelFailed(f"HTTP {resp.status_code}: {resp.text[:200]}", rate_limited=resp.status_code == 429)
    if success.field is None:
        return
    try:
        got = lookup(resp.json(), success.field)
    except ValueError as exc:
        raise ChannelFailed(f"HTTP {resp.status_code} but not JSON: {resp.text[:200]!r}") from exc
    if got != success.equals:
        raise ChannelFailed(f"{success.field} = {got!r}, not {success.equals!r}: {resp.text[:200]}")


class SmsChannel(HttpChannel):
    """Texts the route's phones through an HTTP gateway."""

    def __init__(self, name: str, cfg: SmsConfig, url: str, api_key: str | None, hmac_secret: str | None) -> None:
        super().__init__(name, cfg.per_minute, cfg.digest_lines, cfg.timeout_s)
        self.cfg, self.url, self.api_key, self.hmac_secret = cfg, url, api_key, hmac_secret
        self.one_per_phone = "phone" in PLACEHOLDER.findall(json.dumps(cfg.body, ensure_ascii=False))

    def send(self, message: Message, now_ms: int) -> None:
        """Text the message's phones (one request each, or one for all); raise ChannelFailed on any refusal."""
        text = sms_text(message.notices, self.cfg.sign_name, self.cfg.segments)
        groups = [(p,) for p in message.mentions] if self.one_per_phone else [message.mentions]
        for phones in groups:  # a refusal half-way retries the whole message: at-least-once, as everywhere here
            self._request(self._values(phones, text, message, now_ms), now_ms)

    def _values(self, phones: tuple[str, ...], text: str, message: Message, now_ms: int) -> dict[str, str]:
        first = message.notices[0]
        return {
            "phone": phones[0] if phones else "",
            "phones": ",".join(phones),
            "text": text,
            "sign_name": self.cfg.sign_name,
            "api_key": self.api_key or "",
            "timestamp": str(now_ms // 1000),
            "event_id": first.event_id,
            "case_no": first.case_no,
        }

    def _request(self, values: Mapping[str, str], now_ms: int) -> None:
        body = fill(self.cfg.body, values)
        if self.cfg.encoding == "json":
            content, kind = json.dumps(body, ensure_ascii=False).encode(), "application/json; charset=utf-8"
        else:
            content, kind = urlencode(body).encode(), "application/x-www-form-urlencoded"
        headers = {"Content-Type": kind, **fill(self.cfg.headers, values)}
        if self.cfg.hmac is not None and self.hmac_secret:
            headers[self.cfg.hmac.timestamp_header] = str(now_ms // 1000)
            headers[self.cfg.hmac.header] = signature(self.hmac_secret, now_ms // 1000, content)
        check(self.request(self.cfg.method, self.url, content=content, headers=headers), self.cfg.success)
