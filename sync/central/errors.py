"""Named errors of the centre: one base the CLI turns into a clear line and an exit code."""

from __future__ import annotations

from sync.protocol.errors import ProtocolError


class CentralError(ProtocolError):
    """The centre cannot do what was asked; the message says what to change."""

    code = "central_error"
