"""Classify what a scanner read and refuse what cannot be right, with a reason a cashier
understands. GTIN check digits are validated by `biip` (GS1 parsing is not hand-rolled)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import biip

from hardware.scan import MAX_SCAN_CHARS

BarcodeKind = Literal["loyalty_id", "order_number", "gtin", "return_request", "invalid"]
_GTIN_LENGTHS = (8, 12, 13, 14)
# A return slip from the kiosk: "RR:" and a long random id (see edge_agent.return_requests).
_RETURN_SLIP = re.compile(r"^RR:[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Barcode:
    kind: BarcodeKind
    value: str
    reason: str | None = None  # set when kind == "invalid"


@dataclass(frozen=True)
class BarcodeRules:
    """Patterns the retailer configures for its own codes."""

    loyalty_id: str
    order_number: str


def classify(data: str, rules: BarcodeRules) -> Barcode:
    value = data.strip()
    if not value:
        return Barcode("invalid", "", "empty scan: scan again")
    if len(value) > MAX_SCAN_CHARS:
        return Barcode("invalid", "", "scan too long to be a barcode: scan again")
    if "\ufffd" in value or any(unicodedata.category(ch) == "Cc" for ch in value):
        return Barcode("invalid", "", "unreadable scan (garbled characters): scan again")
    if _RETURN_SLIP.fullmatch(value):
        return Barcode("return_request", value)
    if re.fullmatch(rules.loyalty_id, value):
        return Barcode("loyalty_id", value)
    if re.fullmatch(rules.order_number, value.upper()):
        return Barcode("order_number", value.upper())
    if value.isdigit() and len(value) in _GTIN_LENGTHS:
        result = biip.parse(value)
        if result.gtin is None:
            return Barcode("invalid", "", "product barcode check digit is wrong: scan again")
        return Barcode("gtin", result.gtin.as_gtin_13() if len(value) < 13 else value)
    return Barcode("invalid", "", "not a barcode this till knows (loyalty card, order or product)")
