"""Sending the queued APNs pushes from the centre's database.

A push leaves the queue only once APNs answered: 200 (delivered), 410 (the device token
is gone: its registrations go too) or, after MAX_ATTEMPTS failures, dropped with a log
line (the device still updates the next time the pass is opened).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from sync.central.db import CentralDb
from wallet.apple.apns import MAX_ATTEMPTS, PushResult

log = logging.getLogger(__name__)


class PushSender(Protocol):
    def push(self, push_token: str, topic: str) -> PushResult: ...


@dataclass
class PushReport:
    delivered: int = 0
    unregistered: int = 0
    failed: int = 0


def send_queued_pushes(db: CentralDb, sender: PushSender, limit: int = 500) -> PushReport:
    """Send up to `limit` queued pushes, oldest first."""
    report = PushReport()
    rows = db.execute(
        "SELECT push_token, pass_type_id, serial, attempts FROM wallet_push_queue"
        " ORDER BY queued_at LIMIT %s",
        [limit],
    ).fetchall()
    for push_token, pass_type_id, _serial, attempts in rows:
        result = sender.push(push_token, pass_type_id)
        key = [push_token, pass_type_id]
        with db.transaction():
            if result.status == 200:
                db.execute(
                    "DELETE FROM wallet_push_queue WHERE push_token = %s AND pass_type_id = %s",
                    key,
                )
                report.delivered += 1
            elif result.status == 410:
                db.execute("DELETE FROM wallet_push_queue WHERE push_token = %s", [push_token])
                db.execute("DELETE FROM wallet_registrations WHERE push_token = %s", [push_token])
                report.unregistered += 1
            elif attempts + 1 >= MAX_ATTEMPTS:
                log.warning("dropping APNs push to a device after %d attempts", MAX_ATTEMPTS)
                db.execute(
                    "DELETE FROM wallet_push_queue WHERE push_token = %s AND pass_type_id = %s",
                    key,
                )
                report.failed += 1
            else:
                db.execute(
                    "UPDATE wallet_push_queue SET attempts = attempts + 1, last_error = %s"
                    " WHERE push_token = %s AND pass_type_id = %s",
                    [f"{result.status} {result.reason or ''}"[:500], *key],
                )
                report.failed += 1
    return report


def queued_push_count(db: CentralDb) -> int:
    return int(db.execute("SELECT COUNT(*) FROM wallet_push_queue").fetchone()[0])
