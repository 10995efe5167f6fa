"""What the centre may tell a store (the change feed), one validated schema per type.

Every change arrives as a CloudEvent whose `sequence` extension is its place in the
store's gap-free feed. `parse_change` validates the envelope and the data against the
type's schema. The store writes a parsed change into its tables with
`edge_agent.changes.apply_change`; the centre validates what it sends with the same
schemas (`sync.central.changes`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.protocol.clock import to_iso
from sync.protocol.errors import ChangeRejected
from sync.protocol.return_conflicts import RETURN_CONFLICT, ReturnConflict
from sync.protocol.stock import STOCK_LEVELS, StockLevels
from sync.protocol.wallet_changes import (
    LOYALTY_BALANCE,
    LOYALTY_CONFLICT,
    PASS_UPSERTED,
    LoyaltyBalance,
    LoyaltyConflict,
    PassUpserted,
)

# A change is a few kilobytes (an order with its lines); anything far bigger is refused
# before parsing so a runaway publisher cannot exhaust a small device's memory.
MAX_CHANGE_BYTES = 256 * 1024

# Change type -> schema version, as for store events in `sync.protocol.envelope.EVENT_TYPES`.
CHANGE_TYPES: dict[str, int] = {
    "order.upserted": 1,
    "order.status_changed": 1,
    "customer.upserted": 1,
    "customer.erasure_requested": 1,
    "pass.revoked": 1,
    "config.changed": 1,
    RETURN_CONFLICT: 1,
    STOCK_LEVELS: 1,
    PASS_UPSERTED: 1,
    LOYALTY_BALANCE: 1,
    LOYALTY_CONFLICT: 1,
}


# Not a change: the centre's answer to a replay request with nothing to replay, saying
# how far the store's feed goes. It carries no sequence and is never applied.
FEED_HEAD_TYPE = "feed.head"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


OrderStatus = Literal[
    "placed", "processing", "shipped", "delivered", "ready_for_pickup", "collected", "cancelled"
]


class OrderLine(_Strict):
    line_no: int = Field(ge=1)
    gtin: str = Field(min_length=1, max_length=20)
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category: str | None = None
    colour: str | None = None
    size: str | None = None
    quantity: int = Field(ge=1)
    unit_price_minor: int = Field(ge=0)
    final_sale: bool = False


class OrderUpserted(_Strict):
    number: str = Field(min_length=1, max_length=32)
    customer_id: str | None = None
    channel: Literal["online", "store"] = "online"
    fulfilment: Literal["delivery", "click_and_collect", "in_store"]
    status: OrderStatus
    pickup_store_id: str | None = None
    placed_at: datetime
    fulfilled_at: datetime | None = None
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    total_minor: int = Field(ge=0)
    payment_method: str = Field(min_length=1, max_length=32)
    lines: tuple[OrderLine, ...] = Field(min_length=1)


# An order as both sides keep it in a table (the store's cache, the centre's master data):
# one list of columns and one way to turn a change into rows, so neither writes it twice.
ORDER_COLUMNS = (
    "number", "customer_id", "channel", "fulfilment", "status", "pickup_store_id",
    "placed_at", "fulfilled_at", "currency", "total_minor", "payment_method",
)  # fmt: skip
ORDER_LINE_COLUMNS = (
    "line_no", "gtin", "sku", "name", "category", "colour", "size", "quantity",
    "unit_price_minor", "final_sale",
)  # fmt: skip


def order_row(order: OrderUpserted) -> tuple[Any, ...]:
    """The order's values in ORDER_COLUMNS order, times as the wire writes them."""
    fulfilled = order.fulfilled_at
    return (
        order.number,
        order.customer_id,
        order.channel,
        order.fulfilment,
        order.status,
        order.pickup_store_id,
        to_iso(order.placed_at),
        to_iso(fulfilled) if fulfilled else None,
        order.currency,
        order.total_minor,
        order.payment_method,
    )


def order_line_rows(order: OrderUpserted) -> list[tuple[Any, ...]]:
    """Each line's values in ORDER_LINE_COLUMNS order."""
    return [
        (
            line.line_no,
            line.gtin,
            line.sku,
            line.name,
            line.category,
            line.colour,
            line.size,
            line.quantity,
            line.unit_price_minor,
            int(line.final_sale),
        )
        for line in order.lines
    ]


class OrderStatusChanged(_Strict):
    number: str = Field(min_length=1, max_length=32)
    status: OrderStatus


class Loyalty(_Strict):
    tier: Literal["bronze", "silver", "gold", "platinum"]
    points: int = Field(ge=0)
    lifetime_points: int = Field(ge=0)


class CustomerUpserted(_Strict):
    id: str = Field(min_length=1, max_length=64)
    loyalty_id: str | None = None
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    # Hashes made by the centre with the shared `privacy.lookup_salt`: never the address.
    email_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    phone_hash: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    preferred_locale: str | None = None
    consent_marketing: bool = False
    loyalty: Loyalty | None = None


class ErasureRequested(_Strict):
    customer_id: str = Field(min_length=1, max_length=64)


class PassRevoked(_Strict):
    serial: str = Field(min_length=1, max_length=64)
    customer_id: str | None = None
    kind: Literal["loyalty", "coupon", "pickup"] = "loyalty"
    platform: Literal["apple", "google", "paper"] = "paper"


class ConfigChanged(_Strict):
    key: str = Field(pattern=r"^[a-z0-9_.]+$", max_length=100)
    value: Any


SCHEMAS: dict[str, type[BaseModel]] = {
    "order.upserted": OrderUpserted,
    "order.status_changed": OrderStatusChanged,
    "customer.upserted": CustomerUpserted,
    "customer.erasure_requested": ErasureRequested,
    "pass.revoked": PassRevoked,
    "config.changed": ConfigChanged,
    RETURN_CONFLICT: ReturnConflict,
    STOCK_LEVELS: StockLevels,
    PASS_UPSERTED: PassUpserted,
    LOYALTY_BALANCE: LoyaltyBalance,
    LOYALTY_CONFLICT: LoyaltyConflict,
}


class ChangeEnvelope(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)  # unknown CloudEvents extensions
    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=64)
    source: str
    type: str
    time: datetime
    sequence: int = Field(ge=1)
    data: dict[str, Any]


@dataclass(frozen=True)
class Change:
    id: str
    type: str
    sequence: int
    time: datetime
    data: BaseModel


def parse_feed_head(payload: bytes) -> int | None:
    """The head sequence of a `feed.head` marker, or None for any other message."""
    if len(payload) > MAX_CHANGE_BYTES:
        return None
    try:
        body = json.loads(payload)
        if body.get("type") != FEED_HEAD_TYPE or "sequence" in body:
            return None
        head = int(body["feedhead"])
    except (ValueError, TypeError, AttributeError, KeyError):
        return None
    return head if head >= 0 else None


def parse_sequence(payload: bytes) -> int | None:
    """The feed sequence of a message, if it has a readable one (even when the rest is
    bad), so a broken change can be skipped without stalling the feed."""
    try:
        value = json.loads(payload).get("sequence")
        sequence = int(value)
    except (ValueError, TypeError, AttributeError):
        return None
    return sequence if sequence >= 1 else None


def parse_change(payload: bytes) -> Change:
    """Validate one change message; raises ChangeRejected with the reason."""
    if len(payload) > MAX_CHANGE_BYTES:
        raise ChangeRejected(f"oversized: {len(payload)} bytes (limit {MAX_CHANGE_BYTES})")
    try:
        envelope = ChangeEnvelope.model_validate_json(payload)
    except ValidationError as exc:
        raise ChangeRejected(f"not a valid change envelope: {first_error(exc)}") from None
    schema = SCHEMAS.get(envelope.type)
    if schema is None:
        raise ChangeRejected(f"unknown change type {envelope.type!r}")
    expected = f"urn:edge-central:schema:{envelope.type}:{CHANGE_TYPES[envelope.type]}"
    dataschema = getattr(envelope, "dataschema", expected)
    if dataschema != expected:
        raise ChangeRejected(f"unsupported schema {dataschema!r} (this agent reads {expected})")
    try:
        data = schema.model_validate(envelope.data)
    except ValidationError as exc:
        raise ChangeRejected(f"{envelope.type} data is wrong: {first_error(exc)}") from None
    return Change(envelope.id, envelope.type, envelope.sequence, envelope.time, data)


def first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "(message)"
    return f"{where}: {error['msg']}"
