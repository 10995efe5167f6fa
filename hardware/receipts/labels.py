"""The fixed words on receipts, per language (the store's locale picks one)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReceiptLabels:
    return_receipt: str
    number: str
    order: str
    date: str
    refund: str
    refund_method: str
    reason: str
    pickup: str
    customer: str
    bay: str
    valid_until: str
    slip_title: str
    show_at_till: str


ENGLISH = ReceiptLabels(
    return_receipt="RETURN RECEIPT",
    number="Return",
    order="Order",
    date="Date",
    refund="Refund",
    refund_method="Refunded to",
    reason="Reason",
    pickup="ORDER PICKUP",
    customer="Customer",
    bay="Shelf",
    valid_until="Valid until",
    slip_title="RETURN SLIP",
    show_at_till="Show this code at the till",
)
SPANISH = ReceiptLabels(
    return_receipt="TICKET DE DEVOLUCIÓN",
    number="Devolución",
    order="Pedido",
    date="Fecha",
    refund="Reembolso",
    refund_method="Reembolsado en",
    reason="Motivo",
    pickup="RECOGIDA DE PEDIDO",
    customer="Cliente",
    bay="Estante",
    valid_until="Válido hasta",
    slip_title="SOLICITUD DE DEVOLUCIÓN",
    show_at_till="Muestra este código en caja",
)
LABELS = {"en": ENGLISH, "es": SPANISH}


def labels_for(locale: str) -> ReceiptLabels:
    return LABELS.get(locale.split("_")[0].lower(), ENGLISH)
