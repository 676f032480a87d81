"""The tickets room's exceptions: one base class, a subclass per way things go wrong.

Each error carries a message ``code`` and its ``params`` besides its English text: the API answers
with both, and ``tickets.messages`` turns the code into the Chinese sentence the console shows. A
raise site that knows the case, stage or action passes them; the class's code is the fallback.
"""

from __future__ import annotations

from typing import Self


class TicketError(Exception):
    """Base class of every tickets error."""

    code = "request.refused"

    def __init__(self, detail: str = "", *, code: str | None = None, **params: object) -> None:
        super().__init__(detail)
        self.code = code or type(self).code
        self.params: dict[str, object] = params

    def coded(self, code: str, **params: object) -> Self:
        """Set the message code and parameters (for an error raised where they were not known); return it."""
        self.code, self.params = code, {**self.params, **params}
        return self


class TicketConfigError(TicketError, ValueError):
    """The tickets configuration file is missing or invalid."""

    code = "service.misconfigured"


class IllegalTransition(TicketError):
    """The action is not allowed from the case's current stage."""

    code = "case.action_refused"


class Forbidden(TicketError):
    """The actor's role (or unit) may not take this action."""

    code = "access.forbidden"


class MissingReason(TicketError):
    """The action needs a reason and none was given."""

    code = "request.reason_missing"


class CaseNotFound(TicketError):
    """No case has that id."""

    code = "case.unknown"


class StaleCase(TicketError):
    """The case changed since the caller read it (optimistic concurrency)."""

    code = "case.changed"


class CalendarError(TicketError):
    """Deadline arithmetic cannot be done (e.g. a calendar without working time)."""

    code = "service.calendar"
