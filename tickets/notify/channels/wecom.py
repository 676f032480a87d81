"""企业微信 (WeCom) group robot: POST JSON to the robot's webhook URL; success is HTTP 200 and errcode 0.

markdown: ``{"msgtype": "markdown", "markdown": {"content": ...}}`` (up to 4096 bytes; it cannot @
members by phone). text: ``{"msgtype": "text", "text": {"content": ..., "mentioned_mobile_list":
[...]}}`` (2048 bytes; "@all" mentions everyone). errcode 45009 means too many messages: the robot
takes 20 a minute.
"""

from __future__ import annotations

from typing import Any

from tickets.notify.channels.base import HttpChannel, Message, robot_answer
from tickets.notify.config import WecomConfig
from tickets.notify.message import digest_markdown, digest_text, markdown, text

BUSY = frozenset({45009})


class WecomChannel(HttpChannel):
    """Sends to a WeCom group robot."""

    def __init__(self, name: str, cfg: WecomConfig, url: str) -> None:
        super().__init__(name, cfg.per_minute, cfg.digest_lines, cfg.timeout_s)
        self.msgtype, self.url = cfg.msgtype, url

    def payload(self, message: Message) -> dict[str, Any]:
        """Return the robot's JSON body for a message."""
        first = message.notices[0]
        if self.msgtype == "markdown":
            content = digest_markdown(message.notices, self.digest_lines) if message.digest else markdown(first)
            return {"msgtype": "markdown", "markdown": {"content": content}}
        body: dict[str, Any] = {
            "content": digest_text(message.notices, self.digest_lines) if message.digest else text(first)
        }
        if message.mentions:
            body["mentioned_mobile_list"] = list(message.mentions)
        return {"msgtype": "text", "text": body}

    def send(self, message: Message, now_ms: int) -> None:
        """Post a message to the robot; raise ChannelFailed unless it answers errcode 0."""
        robot_answer(self.request("POST", self.url, json=self.payload(message)), BUSY)
