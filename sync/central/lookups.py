"""The centre's answers to store look-ups (MQTT 5 request/response), from master data.

A store asks on its own `stores/{id}/lookups` topic and names a response topic under its
own `stores/{id}/lookups/replies/`; an answer to anywhere else is refused, so one store
cannot have the centre publish into another store's space.

What a store may see: any order of the retailer, whichever store it was bought for or
picked up at, because a customer may return an online order at any store. The answer
holds the order's customer too (the store cannot cache an order without its customer);
from then on that customer's updates go to that store as well.

Look-ups run on their own thread with their own database connection, so an answer never
waits behind a batch of events being committed; the till is waiting for it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sync.central.db import CentralDb
from sync.central.errors import CentralError
from sync.central.masterdata import (
    customer_orders,
    find_customer,
    read_customer,
    read_order,
    remember_store_knows,
)
from sync.central.stock import stock_elsewhere
from sync.central.supervision import Part
from sync.central.wallet.passes import customer_passes, pass_customer
from sync.link import Message
from sync.protocol.lookups import (
    MAX_CORRELATION_BYTES,
    REPLY_ORDERS_MAX,
    CustomerByPass,
    LookupUnreadable,
    OrderByNumber,
    StockOfGtins,
    encode_reply,
    parse_request,
)
from sync.protocol.topics import StoreTopics, store_id_from_topic

log = logging.getLogger(__name__)

# Past this many waiting requests the worker is far behind; the stores' deadlines have
# long passed for the oldest, so new ones are dropped rather than queued without bound.
MAX_QUEUED = 1000
# How soon the thread notices stop() while idle.
STOP_POLL_SECONDS = 0.2
# Between attempts to reach a database that is down.
RECONNECT_SECONDS = 1.0


@dataclass
class LookupCounters:
    answered: int = 0
    not_found: int = 0
    refused: int = 0
    dropped: int = 0


class LookupResponder:
    """`submit` on paho's thread; answers on the responder's own thread."""

    def __init__(
        self,
        db_url: str,
        prefix: str,
        publish: Callable[[str, bytes, bytes | None], object],
    ) -> None:
        self._db_url = db_url
        self._prefix = prefix
        self._publish = publish
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=MAX_QUEUED)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="central-lookups", daemon=True)
        self.part = Part("lookups")
        self.counters = LookupCounters()

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=10)

    def submit(self, message: Message) -> None:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.counters.dropped += 1

    def _run(self) -> None:
        db = CentralDb(self._db_url)
        self.part.ready.set()
        try:
            while not self._stop.is_set():
                self.part.beat()
                try:
                    message = self._queue.get(timeout=STOP_POLL_SECONDS)
                except queue.Empty:
                    continue
                try:
                    self.answer(db, message)
                except Exception:
                    # One look-up must not stop the others; the store hears nothing and
                    # tells the till the centre did not answer in time.
                    log.exception("a look-up on %s failed", message.topic)
                    db = self._reopen(db)
        finally:
            db.close()

    def _reopen(self, db: CentralDb) -> CentralDb:
        """A fresh connection, retried while the database is down (requests wait; the
        stores' deadlines answer the tills meanwhile)."""
        self.part.unready("reconnecting to the database")
        with contextlib.suppress(Exception):
            db.close()
        while not self._stop.is_set():
            try:
                db = CentralDb(self._db_url)
            except CentralError as exc:
                self.part.unready(f"database unreachable: {exc.message}")
                self._stop.wait(RECONNECT_SECONDS)
                continue
            self.part.beat()
            self.part.ready.set()
            break
        return db

    def answer(self, db: CentralDb, message: Message) -> None:
        """Answer one request (on the caller's thread, with the caller's connection)."""
        store_id = store_id_from_topic(self._prefix, message.topic)
        reply_to = message.response_topic
        correlation = message.correlation_data
        if (
            store_id is None
            or not reply_to
            or not _own_reply_topic(self._prefix, store_id, reply_to)
        ):
            self.counters.refused += 1
            log.warning("look-up on %s without a response topic of its own; ignored", message.topic)
            return
        if correlation is not None and len(correlation) > MAX_CORRELATION_BYTES:
            self.counters.refused += 1
            log.warning("look-up on %s with oversized correlation data; ignored", message.topic)
            return
        try:
            request = parse_request(message.payload)
        except LookupUnreadable as exc:
            self.counters.refused += 1
            self._publish(reply_to, encode_reply("refused", message=str(exc)[:500]), correlation)
            return
        if isinstance(request, StockOfGtins):
            self._answer_stock(db, store_id, list(request.gtins), reply_to, correlation)
            return
        if isinstance(request, OrderByNumber):
            order = read_order(db, request.number)
            orders = [order] if order is not None else []
            customer_ids = [order["customer_id"]] if order and order["customer_id"] else []
        else:
            if isinstance(request, CustomerByPass):
                customer_id = pass_customer(db, request.serial)
            else:
                customer_id = find_customer(db, request.by, request.value)
            customer_ids = [customer_id] if customer_id is not None else []
            orders = customer_orders(db, customer_id, REPLY_ORDERS_MAX) if customer_id else []
        customers = [c for c in (read_customer(db, cid) for cid in customer_ids) if c]
        if not orders and not customers:
            self.counters.not_found += 1
            self._publish(reply_to, encode_reply("not_found"), correlation)
            return
        self.counters.answered += 1
        passes = [p for c in customers for p in customer_passes(db, c["id"])]
        self._publish(
            reply_to, encode_reply("found", customers, orders, passes=passes), correlation
        )
        # After the answer, not before: the till is waiting, this is bookkeeping.
        for customer in customers:
            _remember(db, customer["id"], store_id)

    def _answer_stock(
        self,
        db: CentralDb,
        store_id: str,
        gtins: list[str],
        reply_to: str,
        correlation: bytes | None,
    ) -> None:
        stores = stock_elsewhere(db, store_id, gtins)
        if not stores:
            self.counters.not_found += 1
            self._publish(reply_to, encode_reply("not_found"), correlation)
            return
        self.counters.answered += 1
        self._publish(reply_to, encode_reply("found", stock={"stores": stores}), correlation)


def _own_reply_topic(prefix: str, store_id: str, reply_to: str | None) -> bool:
    if not reply_to:
        return False
    head = StoreTopics(prefix, store_id).lookups + "/replies/"
    device = reply_to[len(head) :]
    return reply_to.startswith(head) and bool(device) and not set(device) & set("/+#")


def _remember(db: CentralDb, customer_id: str, store_id: str) -> None:
    known = db.execute(
        "SELECT 1 FROM customer_stores WHERE customer_id = %s AND store_id = %s",
        [customer_id, store_id],
    ).fetchone()
    if known is None:
        with db.transaction():
            remember_store_knows(db, customer_id, store_id)
