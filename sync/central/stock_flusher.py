"""The worker's thread that sends each store its stock levels, coalesced.

Stock moves all day (the inventory system's stream, orders set aside); a store needs
its figures within seconds, not one change per sale. Every STOCK_FLUSH_SECONDS this
thread records one `stock.levels` change per store for everything that moved there
(`sync.central.stock.flush_stock`) and publishes it after the commit; a store that
misses it gets it on its next replay like any change. With several workers, one
flushes at a time (the others find the lock taken and wait for the next round).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sync.central.db import CentralDb, close_quietly
from sync.central.stock import flush_stock
from sync.central.supervision import Part

log = logging.getLogger(__name__)

# Long enough that a burst of sales at one store is one change, short enough that the
# till's figure is seconds old.
STOCK_FLUSH_SECONDS = 2.0


class StockFlusher:
    def __init__(
        self,
        db_url: str,
        send: Callable[[str, bytes], None],
        interval: float = STOCK_FLUSH_SECONDS,
    ) -> None:
        self._db_url = db_url
        self._send = send
        self._interval = interval
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="central-stock", daemon=True)
        self.part = Part("stock")
        self.flushed = 0  # changes recorded so far

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        db: CentralDb | None = None
        self.part.ready.set()
        while not self._stop.wait(self._interval):
            try:
                db = db or CentralDb(self._db_url)
                changes = flush_stock(db)
            except Exception:
                # Nothing was cleared (the transaction rolled back): the next round sends it.
                log.exception("stock flush failed; retrying next round")
                self.part.unready("stock flush failed; retrying")
                close_quietly(db)
                db = None
                continue
            self.part.beat()
            self.part.ready.set()
            self.flushed += len(changes)
            for store_id, payload in changes:
                self._send(store_id, payload)
        close_quietly(db)
