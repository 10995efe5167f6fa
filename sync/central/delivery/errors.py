"""Named errors of delivery, each with a message an operator can act on."""

from __future__ import annotations

from sync.central.errors import CentralError


class SubscriptionError(CentralError):
    """A subscription as given cannot be used (bad URL, type, secret, unknown id)."""

    code = "subscription_invalid"
