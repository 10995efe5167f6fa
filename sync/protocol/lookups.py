"""What a store may ask the centre, and what the centre answers (MQTT 5 request/response).

A request goes to the store's own `{prefix}/stores/{id}/lookups` with a ResponseTopic
under the same store's space and CorrelationData the answer echoes. The answer carries
orders and customers in the change-feed schemas (`sync.protocol.changes`), so the store validates
and caches them exactly as it would a pushed change.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from sync.protocol.changes import CustomerUpserted, OrderUpserted, first_error
from sync.protocol.stock import STOCK_GTINS_MAX, Gtin, StockElsewhere
from sync.protocol.wallet_changes import PassUpserted

# A request is a few dozen bytes; anything bigger is not one of ours.
MAX_REQUEST_BYTES = 4096
# An answer holds at most REPLY_ORDERS_MAX orders of a few kilobytes each.
MAX_REPLY_BYTES = 1024 * 1024
# A customer's newest orders only: enough for a return at the till, small on the wire.
REPLY_ORDERS_MAX = 50
# Correlation data is ours (16 random bytes); a long one is someone else's mistake.
MAX_CORRELATION_BYTES = 64

LookupBy = Literal["loyalty_id", "email_hash", "phone_hash"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OrderByNumber(_Strict):
    kind: Literal["order"]
    number: str = Field(min_length=1, max_length=32)


class OrdersOfCustomer(_Strict):
    kind: Literal["customer_orders"]
    by: LookupBy
    value: str = Field(min_length=1, max_length=64)


class CustomerByPass(_Strict):
    """Whose pass is this serial: asked by a store that has never seen the customer."""

    kind: Literal["customer_by_pass"]
    serial: str = Field(min_length=1, max_length=64)


class StockOfGtins(_Strict):
    """Which other stores hold these GTINs (a product's variants), nearest first."""

    kind: Literal["stock"]
    gtins: tuple[Annotated[str, Gtin], ...] = Field(min_length=1, max_length=STOCK_GTINS_MAX)


AnyRequest = OrderByNumber | OrdersOfCustomer | CustomerByPass | StockOfGtins
LookupRequest = Annotated[AnyRequest, Field(discriminator="kind")]
_REQUEST = TypeAdapter(LookupRequest)


class LookupReply(_Strict):
    """`found`: the orders (and the customers they belong to); `not_found`: the centre
    has nothing for it; `refused`: the request was not readable (message says why)."""

    status: Literal["found", "not_found", "refused"]
    customers: tuple[CustomerUpserted, ...] = ()
    orders: tuple[OrderUpserted, ...] = ()
    # The customers' passes, so a pass looked up is recognised offline afterwards.
    passes: tuple[PassUpserted, ...] = ()
    stock: StockElsewhere | None = None  # the answer to StockOfGtins
    message: str | None = Field(None, max_length=500)


class LookupUnreadable(ValueError):
    """A request or reply that does not match the protocol; the text says which part."""


def encode_request(request: AnyRequest) -> bytes:
    return request.model_dump_json().encode()


def parse_request(payload: bytes) -> AnyRequest:
    if len(payload) > MAX_REQUEST_BYTES:
        raise LookupUnreadable(f"request of {len(payload)} bytes (limit {MAX_REQUEST_BYTES})")
    try:
        return _REQUEST.validate_json(payload)
    except ValidationError as exc:
        raise LookupUnreadable(f"not a look-up request: {first_error(exc)}") from None


def encode_reply(
    status: Literal["found", "not_found", "refused"],
    customers: list[dict] | None = None,
    orders: list[dict] | None = None,
    message: str | None = None,
    passes: list[dict] | None = None,
    stock: dict | None = None,
) -> bytes:
    """The centre's answer; `customers`, `orders`, `passes` are change-feed data dicts,
    `stock` a StockElsewhere as a dict."""
    body: dict = {"status": status, "customers": customers or [], "orders": orders or []}
    if passes:
        body["passes"] = passes
    if stock is not None:
        body["stock"] = stock
    if message is not None:
        body["message"] = message
    return json.dumps(body, ensure_ascii=False).encode()


def parse_reply(payload: bytes) -> LookupReply:
    if len(payload) > MAX_REPLY_BYTES:
        raise LookupUnreadable(f"reply of {len(payload)} bytes (limit {MAX_REPLY_BYTES})")
    try:
        return LookupReply.model_validate_json(payload)
    except ValidationError as exc:
        raise LookupUnreadable(f"not a look-up reply: {first_error(exc)}") from None
