"""The seam between the use cases and the centre's look-ups.

The order use cases read the local cache; when it has no answer they may ask the centre
through a `CentreLookup`. The sync package provides the real one (MQTT request/response);
without a broker there is none and the cache's answer stands. An implementation caches
what the centre found, so after FOUND the caller reads it from the cache like any order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal, Protocol

from edge_agent.i18n import Phrase

CustomerKey = Literal["loyalty_id", "email_hash", "phone_hash"]


class CentreAnswer(Enum):
    FOUND = "found"  # the centre had it; it is now in the store's cache
    NOT_FOUND = "not_found"  # the centre answered: no such order or customer
    OFFLINE = "offline"  # the link to the centre is down; nothing was asked
    LATE = "late"  # asked, but no usable answer came before the deadline


@dataclass(frozen=True)
class OtherStoreStock:
    """Another store's stock of the GTINs asked about (only those it has)."""

    store_id: str
    name: str
    distance_km: float | None  # from this store; None when either has no location
    levels: dict[str, int]  # gtin -> quantity on hand there


@dataclass(frozen=True)
class StockAnswer:
    answer: CentreAnswer
    stores: tuple[OtherStoreStock, ...] = ()  # nearest first, when FOUND


class CentreLookup(Protocol):
    def fetch_order(self, number: str, timeout: float) -> CentreAnswer:
        """Ask the centre for one order (with its lines and customer) and cache it."""
        ...

    def fetch_customer_orders(self, by: CustomerKey, value: str, timeout: float) -> CentreAnswer:
        """Ask the centre for a customer (by loyalty id or look-up hash) and their newest
        orders, and cache them."""
        ...

    def fetch_stock_elsewhere(self, gtins: Sequence[str], timeout: float) -> StockAnswer:
        """Ask the centre which other stores hold these GTINs, nearest first (live
        figures: nothing is cached)."""
        ...

    def fetch_customer_by_pass(self, serial: str, timeout: float) -> CentreAnswer:
        """Ask the centre whose pass `serial` is, and cache the customer and their passes
        (a pass issued at the centre to a customer this store has never seen)."""
        ...


def why_not_here(answer: CentreAnswer) -> str:
    """The second half of a not-found message at the till: what the centre said."""
    if answer is CentreAnswer.OFFLINE:
        return Phrase("and the centre cannot be reached (the store is offline); try again later")
    if answer is CentreAnswer.LATE:
        return Phrase("and the centre did not answer in time; try again in a moment")
    return Phrase("nor at the centre; check it")
