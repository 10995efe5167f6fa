"""Google allows at most 3 notifying updates per pass in 24 hours and may throttle an
issuer who sends more; the agent keeps count and sends the rest silently."""

from __future__ import annotations

from datetime import datetime, timedelta

from wallet.storage import StoreLike
from wallet.storage import stamp as to_iso

NOTIFY_LIMIT = 3
NOTIFY_WINDOW = timedelta(hours=24)


def notifications_left(store: StoreLike, serial: str, platform: str, now: datetime) -> int:
    (sent,) = store.db.execute(
        "SELECT COUNT(*) FROM wallet_notifications"
        " WHERE serial = ? AND platform = ? AND sent_at > ?",
        [serial, platform, to_iso(now - NOTIFY_WINDOW)],
    ).fetchone()
    return max(0, NOTIFY_LIMIT - sent)


def record_notification(store: StoreLike, serial: str, platform: str, at: datetime) -> None:
    with store.transaction() as db:
        db.execute(
            "INSERT INTO wallet_notifications (serial, platform, sent_at) VALUES (?, ?, ?)",
            [serial, platform, to_iso(at)],
        )
