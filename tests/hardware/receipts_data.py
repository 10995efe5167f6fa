"""Receipts used across the tests, with the characters code pages get wrong."""

from __future__ import annotations

from datetime import UTC, datetime

from hardware.receipts import (
    Coupon,
    Money,
    PickupSlip,
    ReceiptLine,
    ReturnReceipt,
    ReturnSlip,
    ShoppingList,
    StoreHeader,
)

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
STORE = StoreHeader("Tienda Málaga", ("Calle Larios 5", "29005 Málaga"), "CIF B12345678")
RETURN = ReturnReceipt(
    STORE,
    "R-000123",
    AT,
    "W000000123",
    (
        ReceiptLine("Camiseta señora azul marino talla M manga larga", 1, Money(1995, "EUR")),
        ReceiptLine("Müsli Straße", 2, Money(500, "EUR")),
    ),
    Money(2495, "EUR"),
    "tarjeta",
    "talla pequeña",
)
PICKUP = PickupSlip(STORE, "W000000124", AT, "José", (("Zapatillas niño", 1), ("Bolso", 2)), "B-12")
LIST = ShoppingList(STORE, "Lista de la compra", AT, ("Café", "Crème brûlée", "Jamón ibérico"))
COUPON = Coupon(STORE, "-20 %", "En toda la sección de niño: ¡úsalo ya!", "CPN-7Q2X", AT)
SLIP = ReturnSlip(STORE, "RR:AbCdEfGh12345678", "W000000125",
                  (ReceiptLine("Vestido midi de lino negro", 1, Money(4995, "EUR")),),
                  Money(4995, "EUR"), AT)  # fmt: skip
ALL = {"return": RETURN, "pickup": PICKUP, "list": LIST, "coupon": COUPON, "slip": SLIP}
