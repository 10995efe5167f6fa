"""Receipt layouts (return receipt and slip, pickup slip, shopping list, coupon) over plain
values."""

from hardware.money import Money
from hardware.receipts.layouts import render_receipt
from hardware.receipts.model import (
    Coupon,
    PickupSlip,
    Receipt,
    ReceiptLine,
    ReturnReceipt,
    ReturnSlip,
    ShoppingList,
    StoreHeader,
)

__all__ = [
    "Coupon",
    "Money",
    "PickupSlip",
    "Receipt",
    "ReceiptLine",
    "ReturnReceipt",
    "ReturnSlip",
    "ShoppingList",
    "StoreHeader",
    "render_receipt",
]
