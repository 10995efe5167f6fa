"""Named errors of the sync package."""

from __future__ import annotations

from sync.protocol.errors import ProtocolError


class SyncError(ProtocolError):
    """The link to the centre cannot be used right now; nothing is lost, events wait."""

    code = "sync_unavailable"
    http_status = 503


class MessageTooLarge(SyncError):
    """The broker said it takes no packet this big: sending it would only get the
    connection dropped, so the message is refused here instead."""

    code = "message_too_large"
