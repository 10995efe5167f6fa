"""Named errors of the sync package, store side and centre alike.

Same shape as the agent's own errors (a stable `code` for the wire, an `http_status`,
a sentence an operator can act on), but with a base of their own: the centre uses them
and must not depend on the store's packages.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Base of every error the sync package raises on purpose."""

    code = "sync_error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ChangeRejected(ProtocolError):
    """A change from the centre is malformed or cannot be applied; it is dead-lettered."""

    code = "change_rejected"
    http_status = 400
