"""The centre's wallet service: one background thread that re-issues the passes of
customers whose points or tier changed (coalesced, `updates`) and sends the queued APNs
pushes, plus the presence bookkeeping the web side calls (`note_presence`).

Pushes and pending updates wait in the database, so a stopped service or an APNs or
Google outage loses none: they go out on the next round.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sync.central.changes import record_change
from sync.central.db import CentralDb, close_quietly
from sync.central.wallet import updates
from sync.central.wallet.passes import Reissued, customer_passes, reissue_customers
from sync.central.wallet.push import PushReport, PushSender, send_queued_pushes
from sync.protocol.clock import utc_now
from sync.protocol.errors import ChangeRejected
from sync.protocol.wallet_changes import PASS_UPSERTED
from wallet.issuer import PassIssuer

if TYPE_CHECKING:
    from wallet.google.client import GoogleWalletClient

log = logging.getLogger(__name__)

# How often the thread looks for due updates and queued pushes: well inside the 2 s
# a customer waits between the till and the lock screen, and cheap when idle.
ROUND_SECONDS = 0.1
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class WalletCounters:
    reissued: int = 0
    google_updates: int = 0
    google_notifications: int = 0
    pushes: PushReport = field(default_factory=PushReport)
    failed_rounds: int = 0
    # (customer_id, monotonic time the update went out) of the latest, for benchmarks
    last_sent: dict[str, float] = field(default_factory=dict)


class WalletUpdater:
    def __init__(
        self,
        db_url: str,
        issuer: PassIssuer,
        apns: PushSender | None = None,
        google: GoogleWalletClient | None = None,
        clock: Callable[[], datetime] = utc_now,
        round_seconds: float = ROUND_SECONDS,
    ) -> None:
        self._db_url = db_url
        self._issuer = issuer
        self._apns = apns
        self._google = google
        self._clock = clock
        self._round = round_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters = WalletCounters()
        self.pushed: Callable[[str], None] | None = None  # told each push token sent

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="wallet-updates", daemon=True)
        self._thread.start()

    @property
    def thread(self) -> threading.Thread | None:
        """The updates thread once started (watched by `edge-central wallet serve`)."""
        return self._thread

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_SECONDS)
            self._thread = None

    def run_once(self, db: CentralDb) -> None:
        """One round: re-issue what is due, then send the queued pushes."""
        now = self._clock()
        due = updates.due_updates(db, now)
        try:
            done = self._reissue(db, due, now)
        except Exception:
            # One bad customer (Google refusing...) must not hold back the others: one
            # at a time, and a failing one waits a while.
            log.exception("re-issuing %d customers' passes failed; one at a time", len(due))
            done, failed = [], []
            for item in due:
                try:
                    done += self._reissue(db, [item], now)
                except Exception:
                    log.exception("re-issuing %s's passes failed; later", item.customer_id)
                    updates.retry_later(db, item, now)
                    failed.append(item)
            due = [item for item in due if item not in failed]
        if due:
            updates.finish_all(db, due, now)
        for reissued in done:
            if reissued.platform == "apple":
                self.counters.reissued += 1
            else:
                self.counters.google_updates += 1
                self.counters.google_notifications += int(reissued.notified)
        sent = time.monotonic()
        for item in due:
            self.counters.last_sent[item.customer_id] = sent
        if self._apns is not None:
            report = send_queued_pushes(db, self._apns)
            self.counters.pushes.delivered += report.delivered
            self.counters.pushes.unregistered += report.unregistered
            self.counters.pushes.failed += report.failed

    def _reissue(
        self, db: CentralDb, due: list[updates.DueUpdate], now: datetime
    ) -> list[Reissued]:
        return reissue_customers(
            db, self._issuer, [(d.customer_id, d.tier_changed) for d in due], now,
            google_client=self._google,
        )  # fmt: skip

    def _run(self) -> None:
        db = CentralDb(self._db_url)
        try:
            while not self._stop.wait(self._round):
                try:
                    self.run_once(db)
                except Exception:  # a bad round must not end the updates for good
                    self.counters.failed_rounds += 1
                    log.exception("wallet round failed; reconnecting and retrying")
                    db = _reopen(db, self._db_url)
        finally:
            db.close()


def tell_stores(db: CentralDb, customer_id: str) -> list[tuple[str, bytes]]:
    """The customer's passes were issued or changed phones (registered, saved, deleted):
    record them in the feed of every store that knows the customer. Returns (store id,
    change) to publish now; a store that misses it gets it on its next feed check."""
    stores = [
        r[0]
        for r in db.execute(
            "SELECT store_id FROM customer_stores WHERE customer_id = %s", [customer_id]
        ).fetchall()
    ]
    told = []
    for store_id in sorted(stores):
        for data in customer_passes(db, customer_id):
            try:
                told.append((store_id, record_change(db, store_id, PASS_UPSERTED, data)))
            except ChangeRejected as exc:
                log.error("pass news not sent to %s: %s", store_id, exc.message)
    return told


def _reopen(db: CentralDb, url: str) -> CentralDb:
    close_quietly(db)
    while True:
        try:
            return CentralDb(url)
        except Exception as exc:
            log.error("wallet service cannot reach its database (%s); retrying", exc)
            time.sleep(1.0)
