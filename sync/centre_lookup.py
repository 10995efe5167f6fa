"""The store's `CentreLookup`: asks the centre over MQTT and caches what it finds.

What the centre answers is validated with the change-feed schemas and written with the
same code as a pushed change (`apply_change`), so a looked-up order is an ordinary
cached order: the return flow works on it, it is there next time the store is offline,
and it follows the same retention.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from edge_agent.centre import CentreAnswer, CustomerKey, OtherStoreStock, StockAnswer
from edge_agent.changes import apply_change
from edge_agent.store import Store
from sync.protocol.changes import Change
from sync.protocol.errors import ChangeRejected
from sync.protocol.lookups import (
    AnyRequest,
    CustomerByPass,
    LookupReply,
    LookupUnreadable,
    OrderByNumber,
    OrdersOfCustomer,
    StockOfGtins,
    encode_request,
    parse_reply,
)
from sync.protocol.wallet_changes import PASS_UPSERTED
from sync.requester import CentreLate, CentreUnreachable, Requester

log = logging.getLogger(__name__)


class MqttCentreLookup:
    """One per agent; safe to call from any thread (each uses its own connection)."""

    def __init__(self, requester: Requester, store: Store, clock: Callable[[], datetime]) -> None:
        self._requester = requester
        self._store = store
        self._clock = clock

    def fetch_order(self, number: str, timeout: float) -> CentreAnswer:
        return self._fetch(OrderByNumber(kind="order", number=number), timeout)

    def fetch_customer_orders(self, by: CustomerKey, value: str, timeout: float) -> CentreAnswer:
        return self._fetch(OrdersOfCustomer(kind="customer_orders", by=by, value=value), timeout)

    def fetch_customer_by_pass(self, serial: str, timeout: float) -> CentreAnswer:
        return self._fetch(CustomerByPass(kind="customer_by_pass", serial=serial), timeout)

    def fetch_stock_elsewhere(self, gtins: Sequence[str], timeout: float) -> StockAnswer:
        request = StockOfGtins(kind="stock", gtins=tuple(gtins))
        reply = self._ask(request, timeout)
        if isinstance(reply, CentreAnswer):
            return StockAnswer(reply)
        if reply.status == "not_found" or reply.stock is None or not reply.stock.stores:
            return StockAnswer(CentreAnswer.NOT_FOUND)
        stores = tuple(
            OtherStoreStock(s.store_id, s.name, s.distance_km, dict(s.levels))
            for s in reply.stock.stores
        )
        return StockAnswer(CentreAnswer.FOUND, stores)

    def _ask(self, request: AnyRequest, timeout: float) -> LookupReply | CentreAnswer:
        """The centre's readable answer, or why there is none (OFFLINE, LATE)."""
        try:
            payload = self._requester.ask(encode_request(request), timeout)
        except CentreUnreachable:
            return CentreAnswer.OFFLINE
        except CentreLate:
            log.info("centre look-up (%s) unanswered after %.0f ms", request.kind, timeout * 1000)
            return CentreAnswer.LATE
        try:
            reply = parse_reply(payload)
        except LookupUnreadable as exc:
            # A broken answer is as good as none; the till hears "did not answer".
            log.warning("centre look-up (%s): %s", request.kind, exc)
            return CentreAnswer.LATE
        if reply.status == "refused":
            log.warning("centre refused a look-up (%s): %s", request.kind, reply.message)
            return CentreAnswer.LATE
        return reply

    def _fetch(self, request: AnyRequest, timeout: float) -> CentreAnswer:
        started = time.monotonic()
        reply = self._ask(request, timeout)
        if isinstance(reply, CentreAnswer):
            return reply
        if reply.status == "not_found" or not (reply.orders or reply.customers):
            return CentreAnswer.NOT_FOUND
        try:
            self._cache(reply)
        except ChangeRejected as exc:
            log.warning("centre look-up (%s) answer not cacheable: %s", request.kind, exc.message)
            return CentreAnswer.LATE
        log.info(
            "centre look-up (%s): %d order(s) cached in %.0f ms",
            request.kind,
            len(reply.orders),
            (time.monotonic() - started) * 1000,
        )
        return CentreAnswer.FOUND

    def _cache(self, reply: LookupReply) -> None:
        now = self._clock()
        with self._store.transaction() as db:
            # Customers first: the store refuses an order for a customer it does not know.
            for customer in reply.customers:
                apply_change(db, _as_change("customer.upserted", customer, now), now)
            for order in reply.orders:
                apply_change(db, _as_change("order.upserted", order, now), now)
            for issued in reply.passes:
                apply_change(db, _as_change(PASS_UPSERTED, issued, now), now)


def _as_change(change_type: str, data: object, at: datetime) -> Change:
    # Not part of the feed: no id or sequence of its own; apply_change reads only data.
    return Change(id="lookup", type=change_type, sequence=0, time=at, data=data)  # type: ignore[arg-type]
