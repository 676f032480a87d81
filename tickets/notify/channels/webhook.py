"""A generic webhook: the outbox payload, signed as tickets.outbox signs it (the receiver checks it the same way).

One event: its outbox body as is, ``Idempotency-Key`` its event id. A digest (only if the channel
has a budget): ``{"type": "notify.digest", "events": [...]}``, keyed by a UUID derived from the
event ids it covers. With a secret, ``X-Citywatch-Timestamp`` and ``X-Citywatch-Signature`` come
from ``tickets.outbox.signature``, signed afresh on every attempt (``verify_signature`` checks them).
"""

from __future__ import annotations

import json
import uuid

from tickets.notify.channels.base import HttpChannel, Message
from tickets.notify.config import WebhookChannelConfig
from tickets.notify.errors import ChannelFailed
from tickets.outbox import signature


def body_of(message: Message) -> tuple[bytes, str, str]:
    """Return a message's body, idempotency key and event type."""
    if not message.digest:
        n = message.notices[0]
        return n.payload.encode(), n.event_id, n.event_type
    events = [json.loads(n.payload) for n in message.notices]
    key = str(uuid.uuid5(uuid.NAMESPACE_URL, "citywatch:digest:" + ",".join(n.event_id for n in message.notices)))
    return json.dumps({"type": "notify.digest", "events": events}, ensure_ascii=False).encode(), key, "notify.digest"


class WebhookChannel(HttpChannel):
    """Posts events to a URL, signed with the outbox's scheme when it has a secret."""

    def __init__(self, name: str, cfg: WebhookChannelConfig, url: str, secret: str | None) -> None:
        super().__init__(name, cfg.per_minute, cfg.digest_lines, cfg.timeout_s)
        self.url, self.secret = url, secret

    def send(self, message: Message, now_ms: int) -> None:
        """Post a message; raise ChannelFailed unless the receiver answers 2xx."""
        body, key, event_type = body_of(message)
        headers = {"Content-Type": "application/json", "Idempotency-Key": key, "X-Citywatch-Event": event_type}
        if self.secret:
            headers["X-Citywatch-Timestamp"] = str(now_ms // 1000)
            headers["X-Citywatch-Signature"] = signature(self.secret, now_ms // 1000, body)
        resp = self.request("POST", self.url, content=body, headers=headers)
        if not 200 <= resp.status_code < 300:
            raise ChannelFailed(f"HTTP {resp.status_code}", rate_limited=resp.status_code == 429)
