"""The five receipts the store prints, each written once for every paper width and printer.

`render_receipt(receipt, profile, paper_width_mm)` returns the ESC/POS bytes.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatch
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from hardware.money import format_money
from hardware.receipts.labels import ReceiptLabels, labels_for
from hardware.receipts.model import (
    Coupon,
    PickupSlip,
    Receipt,
    ReturnReceipt,
    ReturnSlip,
    ShoppingList,
    StoreHeader,
)
from hardware.receipts.writer import ReceiptWriter


def render_receipt(receipt: Receipt, profile: str = "TM-T88V", paper_width_mm: int = 80) -> bytes:
    writer = ReceiptWriter(profile, paper_width_mm)
    _header(writer, receipt.store)
    _body(receipt, writer)
    return writer.finish()


def _header(writer: ReceiptWriter, store: StoreHeader) -> None:
    writer.title(store.name)
    for line in store.address_lines:
        writer.text(line, center=True)
    if store.tax_id:
        writer.text(store.tax_id, center=True)
    writer.rule()


@singledispatch
def _body(receipt: object, writer: ReceiptWriter) -> None:
    raise TypeError(f"no layout for {type(receipt).__name__}")


@_body.register
def _return_receipt(receipt: ReturnReceipt, writer: ReceiptWriter) -> None:
    store, words = receipt.store, _words(receipt.store)
    writer.text(words.return_receipt, bold=True, center=True)
    writer.pair(words.number, receipt.number)
    writer.pair(words.order, receipt.order_number)
    writer.pair(words.date, _when(receipt.at, store))
    writer.rule()
    for line in receipt.lines:
        writer.pair(
            f"{line.quantity} x {line.description}", format_money(line.amount, store.locale)
        )
    writer.rule()
    writer.pair(words.refund, format_money(receipt.refund, store.locale), bold=True)
    writer.pair(words.refund_method, receipt.refund_method)
    if receipt.reason:
        writer.text(f"{words.reason}: {receipt.reason}")
    writer.blank()
    writer.qr(receipt.number)


@_body.register
def _pickup_slip(slip: PickupSlip, writer: ReceiptWriter) -> None:
    words = _words(slip.store)
    writer.text(words.pickup, bold=True, center=True)
    writer.title(slip.order_number)
    writer.pair(words.customer, slip.customer_first_name)
    writer.pair(words.date, _when(slip.at, slip.store))
    if slip.bay:
        writer.pair(words.bay, slip.bay, bold=True)
    writer.rule()
    for description, quantity in slip.items:
        writer.pair(description, f"x{quantity}")
    writer.blank()
    writer.qr(slip.order_number)


@_body.register
def _shopping_list(shopping: ShoppingList, writer: ReceiptWriter) -> None:
    writer.text(shopping.title, bold=True)
    writer.text(_when(shopping.at, shopping.store))
    writer.rule()
    for item in shopping.items:
        writer.text(f"[ ] {item}")


@_body.register
def _coupon(coupon: Coupon, writer: ReceiptWriter) -> None:
    words = _words(coupon.store)
    writer.title(coupon.title)
    writer.text(coupon.description, center=True)
    writer.blank()
    writer.qr(coupon.code)
    writer.text(coupon.code, center=True)
    valid = format_date(
        coupon.valid_until.astimezone(ZoneInfo(coupon.store.timezone)),
        format="medium",
        locale=coupon.store.locale,
    )
    writer.text(f"{words.valid_until} {valid}", center=True)


@_body.register
def _slip_to_show_at_till(slip: ReturnSlip, writer: ReceiptWriter) -> None:
    words = _words(slip.store)
    writer.text(words.slip_title, bold=True, center=True)
    writer.text(words.show_at_till, center=True)
    writer.blank()
    writer.qr(slip.code)
    writer.pair(words.order, slip.order_number)
    writer.rule()
    for line in slip.lines:
        writer.pair(
            f"{line.quantity} x {line.description}", format_money(line.amount, slip.store.locale)
        )
    writer.rule()
    writer.pair(words.refund, format_money(slip.refund, slip.store.locale), bold=True)
    writer.text(f"{words.valid_until} {_when(slip.valid_until, slip.store)}", center=True)


def _words(store: StoreHeader) -> ReceiptLabels:
    return store.labels or labels_for(store.locale)


def _when(at: datetime, store: StoreHeader) -> str:
    local = at.astimezone(ZoneInfo(store.timezone))
    return format_datetime(local, format="short", locale=store.locale)
