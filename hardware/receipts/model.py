"""What a receipt says, as plain values. Callers (edge_agent) build these from their own
domain objects; the layouts here never see a customer or an order record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hardware.money import Money
from hardware.receipts.labels import ReceiptLabels


@dataclass(frozen=True)
class StoreHeader:
    name: str
    address_lines: tuple[str, ...] = ()
    tax_id: str | None = None
    locale: str = "es_ES"  # language of the fixed texts, number and date formats
    timezone: str = "Europe/Madrid"  # receipts show the store's local time
    # The fixed words, as the caller's catalog translates them; None: the built-in table
    # for the locale's language.
    labels: ReceiptLabels | None = None


@dataclass(frozen=True)
class ReceiptLine:
    description: str
    quantity: int
    amount: Money  # line total


@dataclass(frozen=True)
class ReturnReceipt:
    store: StoreHeader
    number: str  # the return's reference, also in the QR code
    at: datetime
    order_number: str
    lines: tuple[ReceiptLine, ...]
    refund: Money
    refund_method: str  # "card", "cash", "gift card" ... as the cashier chose
    reason: str | None = None


@dataclass(frozen=True)
class PickupSlip:
    store: StoreHeader
    order_number: str
    at: datetime
    customer_first_name: str  # first name only: the slip lies on the counter
    items: tuple[tuple[str, int], ...]  # (description, quantity)
    bay: str | None = None  # where the parcel waits


@dataclass(frozen=True)
class ShoppingList:
    store: StoreHeader
    title: str
    at: datetime
    items: tuple[str, ...]


@dataclass(frozen=True)
class Coupon:
    store: StoreHeader
    title: str
    description: str
    code: str  # what the till scans back (printed as a QR code and in text)
    valid_until: datetime


@dataclass(frozen=True)
class ReturnSlip:
    """A kiosk's return request on paper: the till scans its QR code to load the return."""

    store: StoreHeader
    code: str  # what the till scans (QR code)
    order_number: str
    lines: tuple[ReceiptLine, ...]
    refund: Money
    valid_until: datetime


Receipt = ReturnReceipt | PickupSlip | ShoppingList | Coupon | ReturnSlip
