"""Domain values the use cases return. Frozen; money in minor units; times aware UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# The one Money (integer minor units + ISO 4217 currency) is the receipts' own, so what
# the till shows and what it prints are the same value; see hardware/money.py.
from hardware.money import Money as Money


@dataclass(frozen=True)
class OrderLine:
    line_no: int
    gtin: str
    sku: str
    name: str
    category: str | None
    colour: str | None
    size: str | None
    quantity: int
    returned_quantity: int
    unit_price: Money
    final_sale: bool


@dataclass(frozen=True)
class OrderSummary:
    number: str
    status: str
    fulfilment: str
    pickup_store_id: str | None
    placed_at: datetime
    total: Money
    item_count: int


@dataclass(frozen=True)
class ConflictingReturn:
    """One store's return of an over-returned line, as the centre reported it."""

    store_id: str
    return_id: str
    quantity: int
    refund: Money
    returned_at: datetime


@dataclass(frozen=True)
class ReturnConflict:
    """An order line returned at two or more stores for more than was bought."""

    id: str
    order_number: str
    line_no: int
    sku: str
    ordered_quantity: int
    returned_quantity: int
    returns: tuple[ConflictingReturn, ...]
    detected_at: datetime
    state: Literal["open", "resolved"]
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


@dataclass(frozen=True)
class Order:
    number: str
    customer_id: str | None
    channel: str
    fulfilment: str
    status: str
    pickup_store_id: str | None
    placed_at: datetime
    fulfilled_at: datetime | None
    total: Money
    payment_method: str
    lines: tuple[OrderLine, ...]
    # Lines the centre found returned at other stores too (sync.protocol.return_conflicts).
    conflicts: tuple[ReturnConflict, ...] = ()


@dataclass(frozen=True)
class PurchasedItem:
    order_number: str
    placed_at: datetime
    name: str
    category: str | None
    colour: str | None
    size: str | None


@dataclass(frozen=True)
class RequestedLine:
    gtin: str
    name: str
    size: str | None
    colour: str | None
    quantity: int
    unit_price: Money


@dataclass(frozen=True)
class RequestedOrder:
    """An order staff asked the centre for (collect elsewhere, or delivered home), as
    this store knows it until the centre's order comes back."""

    number: str
    customer_id: str
    fulfilment: Literal["click_and_collect", "delivery"]
    pickup_store_id: str | None
    lines: tuple[RequestedLine, ...]
    total: Money
    requested_at: datetime
    # waiting: still in the outbox (offline: placed when the store reconnects);
    # placed: the centre has it; refused: the centre refused it (see the parked events).
    state: Literal["waiting", "placed", "refused"]


@dataclass(frozen=True)
class CustomerProfile:
    """What the till shows once a customer is recognised."""

    customer_id: str
    first_name: str
    last_name: str
    loyalty_id: str | None
    tier: str | None
    points: int
    consent_marketing: bool
    open_orders: tuple[OrderSummary, ...]
    ready_for_pickup_here: tuple[OrderSummary, ...]
    recent_purchases: tuple[PurchasedItem, ...]
    preferred_sizes: dict[str, str]
    # Asked for at this store and not yet back from the centre as an order.
    requested_orders: tuple[RequestedOrder, ...] = ()
    # "on_phone": a wallet pass of theirs is on a phone (Apple registered it, or Google
    # said saved); "issued": they have one, not (yet) on a phone; "none": offer it.
    wallet_pass: Literal["on_phone", "issued", "none"] = "none"
