"""钉钉 (DingTalk) custom robot: POST JSON to the robot's URL; success is HTTP 200 and errcode 0.

``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles": [...], "isAtAll": ...}}``;
the phones to @ must also appear as "@phone" in the text. Facts go as list items (DingTalk joins
lines that a single line break separates). With 加签 (a signing secret) every attempt adds
``&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(secret, "{timestamp}\\n{secret}")))>``;
DingTalk refuses a timestamp more than an hour off. errcode 130101: sending too fast (20 a minute).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from tickets.notify.channels.base import HttpChannel, Message, robot_answer
from tickets.notify.config import ALL, DingtalkConfig
from tickets.notify.message import digest_markdown, headline, markdown

BUSY = frozenset({130101})


def sign(secret: str, timestamp_ms: int) -> str:
    """Return DingTalk's signature (before URL encoding): base64 of HMAC-SHA256(secret, "{timestamp}\\n{secret}")."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_url(url: str, secret: str, timestamp_ms: int) -> str:
    """Return the robot URL with timestamp and the URL-encoded sign appended."""
    query = urlencode({"timestamp": timestamp_ms, "sign": sign(secret, timestamp_ms)})
    return f"{url}{'&' if '?' in url else '?'}{query}"


class DingtalkChannel(HttpChannel):
    """Sends to a DingTalk custom robot, signed if it has a secret."""

    def __init__(self, name: str, cfg: DingtalkConfig, url: str, secret: str | None) -> None:
        super().__init__(name, cfg.per_minute, cfg.digest_lines, cfg.timeout_s)
        self.url, self.secret = url, secret

    def payload(self, message: Message) -> dict[str, Any]:
        """Return the robot's JSON body for a message."""
        phones = [m for m in message.mentions if m != ALL]
        if message.digest:
            title = f"案件事件汇总: {len(message.notices)} 条"
            content = digest_markdown(message.notices, self.digest_lines, message.mentions)
        else:
            first = message.notices[0]
            title, content = headline(first), markdown(first, message.mentions, bullet="- ")  # a line each
        return {
            "msgtype": "markdown",
            "markdown": {"title": title, "text": content},
            "at": {"atMobiles": phones, "isAtAll": ALL in message.mentions},
        }

    def send(self, message: Message, now_ms: int) -> None:
        """Post a message to the robot (signed afresh); raise ChannelFailed unless it answers errcode 0."""
        url = signed_url(self.url, self.secret, now_ms) if self.secret else self.url
        robot_answer(self.request("POST", url, json=self.payload(message)), BUSY)
