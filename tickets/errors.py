"""The tickets room's exceptions: one base class, a subclass per way things go wrong."""

from __future__ import annotations


class TicketError(Exception):
    """Base class of every tickets error."""


class TicketConfigError(TicketError, ValueError):
    """The tickets configuration file is missing or invalid."""


class IllegalTransition(TicketError):
    """The action is not allowed from the case's current stage."""


class Forbidden(TicketError):
    """The actor's role (or unit) may not take this action."""


class MissingReason(TicketError):
    """The action needs a reason and none was given."""


class CaseNotFound(TicketError):
    """No case has that id."""


class StaleCase(TicketError):
    """The case changed since the caller read it (optimistic concurrency)."""


class CalendarError(TicketError):
    """Deadline arithmetic cannot be done (e.g. a calendar without working time)."""
