"""Named errors of delivery, each with a message an operator can act on."""

from __future__ import annotations

from sync.errors import SyncError


class SubscriptionError(SyncError):
    """A subscription as given cannot be used (bad URL, type, secret, unknown id)."""

    code = "subscription_invalid"
    http_status = 400
