"""What the alert storage refuses, for the API to answer 404 or 409."""

from __future__ import annotations


class NotFound(LookupError):
    """No such alert, rule or notification."""


class Conflict(ValueError):
    """The alert (or notification) is not in a state that allows the action."""
