"""Receipts for the till's jobs, built from domain values into the hardware layouts
(`hardware/receipts` never sees a customer or an order)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from edge_agent.config import Config
from edge_agent.domain import Money, Order
from edge_agent.i18n import Phrase, language_of, translate
from hardware.receipts.labels import ReceiptLabels
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


# How a refund method reads on the receipt (catalog message ids).
REFUND_METHOD_TEXT = {
    "original_payment": Phrase("Original payment method"),
    "store_credit": Phrase("Store credit"),
}
# The receipts' fixed words as catalog message ids (the English source of each label).
_LABELS = ReceiptLabels(
    return_receipt=Phrase("RETURN RECEIPT"),
    number=Phrase("Return no."),
    order=Phrase("Order"),
    date=Phrase("Date"),
    refund=Phrase("Refund"),
    refund_method=Phrase("Refunded to"),
    reason=Phrase("Reason"),
    pickup=Phrase("ORDER PICKUP"),
    customer=Phrase("Customer"),
    bay=Phrase("Shelf"),
    valid_until=Phrase("Valid until"),
    slip_title=Phrase("RETURN SLIP"),
    show_at_till=Phrase("Show this code at the till"),
)


def store_header(config: Config) -> StoreHeader:
    """The receipt's header and its fixed words, in the store's language."""
    lang = language_of(config.store.locale)
    words = {name: translate(text, lang) for name, text in vars(_LABELS).items()}
    return StoreHeader(
        name=config.store.name,
        locale=config.store.locale,
        timezone=config.store.timezone,
        labels=ReceiptLabels(**words),
    )


def refund_method_text(config: Config, refund_method: str) -> str:
    text = REFUND_METHOD_TEXT.get(refund_method)
    return translate(text, language_of(config.store.locale)) if text else refund_method


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
        refund_method=refund_method_text(config, refund_method),
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
