"""Domain errors. Pages show their message; nothing here knows about Streamlit."""

from __future__ import annotations


class TendError(Exception):
    """Base for errors whose message is fit to show to the person who caused them."""


class NotFound(TendError):
    """The record does not exist, or belongs to another couple (indistinguishable on purpose)."""


class InvalidInput(TendError):
    """Input failed validation; ``fields`` maps a field name to its message."""

    def __init__(self, fields: dict[str, str]):
        self.fields = fields
        super().__init__("; ".join(fields.values()))


class NotAllowed(TendError):
    """The action is understood but not allowed in the current state."""


class TooManyAttempts(TendError):
    """Sign-in is being slowed down for this address from this client."""
