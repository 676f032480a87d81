"""Authentication codes (鉴权码) a terminal gets at registration and shows on every connection.

The code is an HMAC of the terminal's phone number under the gateway's secret, so any gateway
process sharing the secret (several behind one load balancer, or this one after a restart) checks
it without a shared store. Without a configured secret the gateway makes one per start: terminals
then register again after a restart, which the standard has them do when authentication fails.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_CHARS = 16


class Authenticator:
    """Issues and checks authentication codes."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.ephemeral = secret is None
        self._secret = secret if secret is not None else secrets.token_bytes(32)

    def code(self, phone_key: str) -> str:
        """Return the code of a terminal (by its phone number without padding zeros)."""
        return hmac.new(self._secret, phone_key.encode("ascii"), hashlib.sha256).hexdigest()[:CODE_CHARS]

    def verify(self, phone_key: str, code: str) -> bool:
        """Tell whether a code is this terminal's."""
        return hmac.compare_digest(self.code(phone_key), code)
