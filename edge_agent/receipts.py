"""Receipts for the till's jobs, built from domain values into the hardware layouts
(`hardware/receipts` never sees a customer or an order)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from edge_agent.config import Config
from edge_agent.domain import Money, Order
from hardware.receipts.model import (
    PickupSlip,
    Receipt,
    ReceiptLine,
    ReturnReceipt,
    ReturnSlip,
    StoreHeader,
)


class ReceiptPrinter(Protocol):
    """The store's receipt printer as the use cases see it (the context carries it, so a
    return or a hand-over prints whichever screen or API confirmed it)."""

    def queue(self, receipt: Receipt) -> int:
        """Queue `receipt` inside the caller's transaction; returns the print job id."""
        ...

    def wake(self) -> None:
        """Print what was queued, once the caller's transaction has committed."""
        ...


REFUND_METHOD_TEXT = {"original_payment": "original payment", "store_credit": "store credit"}


def store_header(config: Config) -> StoreHeader:
    return StoreHeader(
        name=config.store.name, locale=config.store.locale, timezone=config.store.timezone
    )


def return_receipt(
    config: Config,
    return_id: str,
    at: datetime,
    order_number: str,
    lines: list[tuple[str, int, Money]],
    refund: Money,
    refund_method: str,
) -> ReturnReceipt:
    return ReturnReceipt(
        store=store_header(config),
        number=return_id,
        at=at,
        order_number=order_number,
        lines=tuple(ReceiptLine(name, qty, amount) for name, qty, amount in lines),
        refund=refund,
        refund_method=REFUND_METHOD_TEXT.get(refund_method, refund_method),
    )


def return_slip(
    config: Config,
    code: str,
    order_number: str,
    lines: list[tuple[str, int, Money]],
    refund: Money,
    valid_until: datetime,
) -> ReturnSlip:
    return ReturnSlip(
        store=store_header(config),
        code=code,
        order_number=order_number,
        lines=tuple(ReceiptLine(name, qty, amount) for name, qty, amount in lines),
        refund=refund,
        valid_until=valid_until,
    )


def pickup_slip(config: Config, order: Order, first_name: str | None, at: datetime) -> PickupSlip:
    return PickupSlip(
        store=store_header(config),
        order_number=order.number,
        at=at,
        customer_first_name=first_name or "",
        items=tuple((line.name, line.quantity) for line in order.lines),
    )
