"""A background thread in the daemon that sends queued APNs pushes now and then.

Pushes wait in SQLite (`apns_push_queue`), so a stopped agent or an APNs outage loses
none: they go out on the next round.
"""

from __future__ import annotations

import logging
import threading

from wallet.apple.apns import ApnsSender, drain_push_queue
from wallet.storage import StoreLike

log = logging.getLogger(__name__)
# Pass updates are not urgent to the second, and APNs prefers few, batched connections.
PUSH_INTERVAL_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 15.0


class PushWorker:
    def __init__(
        self, store: StoreLike, sender: ApnsSender, interval: float = PUSH_INTERVAL_SECONDS
    ) -> None:
        self._store = store
        self._sender = sender
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="apns-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the round in progress; close the APNs connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_SECONDS)
            self._thread = None
        self._sender.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                report = drain_push_queue(self._store, self._sender)
            except Exception:  # a bad round must not end the pushes for good
                log.exception("APNs push round failed; retrying next round")
                continue
            self.rounds += 1
            if report.delivered or report.unregistered or report.failed:
                log.info(
                    "APNs pushes: %d delivered, %d devices gone, %d to retry",
                    report.delivered,
                    report.unregistered,
                    report.failed,
                )
