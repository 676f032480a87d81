"""The notify room's exceptions."""

from __future__ import annotations

from tickets.errors import TicketConfigError, TicketError


class NotifyError(TicketError):
    """Base class of every notification error."""


class NotifyConfigError(NotifyError, TicketConfigError):
    """The notify section or a secret it names is missing or invalid."""


class ChannelFailed(NotifyError):
    """A channel did not accept a message (network error, HTTP error or an error code in the answer)."""

    def __init__(self, message: str, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited  # the provider said "too fast": wait for the minute to pass
