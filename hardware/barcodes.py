"""Classify what a scanner read and refuse what cannot be right, with a reason a cashier
understands. GTIN check digits and GS1 element strings are parsed by `biip` (GS1 is not
hand-rolled); pass codes are only recognised here, the wallet verifies them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import biip
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from hardware.scan import MAX_SCAN_CHARS
from hardware.symbology import is_gs1, split_symbology

BarcodeKind = Literal[
    "loyalty_id", "order_number", "gtin", "gs1", "pass_code", "return_request", "invalid"
]
_GTIN_LENGTHS = (8, 12, 13, 14)
# GS1's separator between variable-length element strings (FNC1 sent as ASCII 29).
GROUP_SEPARATOR = "\x1d"
# Wallet pass codes: "EP", a version digit, a colon, unpadded RFC 4648 base32; a Google
# rotating barcode appends "/" and a TOTP of 6-10 digits.
PASS_CODE_PATTERN = r"^EP[0-9]:[A-Z2-7]+(/[0-9]{6,10})?$"
# A return slip from the kiosk: "RR:" and a long random id (see edge_agent.return_requests).
_RETURN_SLIP = re.compile(r"^RR:[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class Barcode:
    kind: BarcodeKind
    value: str
    reason: str | None = None  # set when kind == "invalid"
    # GS1 element strings as (application identifier, value), in scan order.
    elements: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BarcodeRules:
    """Patterns the retailer configures for its own codes."""

    loyalty_id: str
    order_number: str
    pass_code: str = PASS_CODE_PATTERN


def classify(data: str, rules: BarcodeRules, symbology: str | None = None) -> Barcode:
    """What `data` is; never raises for any text (garbage becomes kind "invalid")."""
    value = data.strip()
    if symbology is None:
        symbology, value = split_symbology(value)
    if not value:
        return Barcode("invalid", "", "empty scan: scan again")
    if len(value) > MAX_SCAN_CHARS:
        return Barcode("invalid", "", "scan too long to be a barcode: scan again")
    if looks_like_card_data(value, symbology):
        return Barcode("invalid", "", CARD_DATA_REASON)
    if "\ufffd" in value or any(
        unicodedata.category(ch) == "Cc" and ch != GROUP_SEPARATOR for ch in value
    ):
        return Barcode("invalid", "", "unreadable scan (garbled characters): scan again")
    if is_gs1(symbology) or GROUP_SEPARATOR in value or value.startswith("(0"):
        return _classify_gs1(value)
    if re.fullmatch(rules.pass_code, value):
        return Barcode("pass_code", value)
    if _RETURN_SLIP.fullmatch(value):
        return Barcode("return_request", value)
    if re.fullmatch(rules.loyalty_id, value):
        return Barcode("loyalty_id", value)
    if re.fullmatch(rules.order_number, value.upper()):
        return Barcode("order_number", value.upper())
    if value.isascii() and value.isdigit() and len(value) in _GTIN_LENGTHS:
        result = biip.parse(value)
        if result.gtin is None:
            return Barcode("invalid", "", "product barcode check digit is wrong: scan again")
        return Barcode("gtin", result.gtin.as_gtin_13() if len(value) < 13 else value)
    if value.isascii() and value.isdigit() and len(value) > 16 and value.startswith("01"):
        # A GS1-128 read by a scanner that sends no symbology identifier.
        return _classify_gs1(value)
    return Barcode("invalid", "", "not a barcode this till knows (loyalty card, order or product)")


def _classify_gs1(value: str) -> Barcode:
    try:
        hri = value.startswith("(")  # human-readable "(01)...(10)..." form
        message = GS1Message.parse_hri(value) if hri else GS1Message.parse(value)
    except (biip.ParseError, ValueError):
        return Barcode("invalid", "", "GS1 barcode could not be read (bad data or check digit)")
    elements = tuple((element.ai.ai, element.value) for element in message.element_strings)
    for element in message.element_strings:
        if element.ai.ai == "01":
            if element.gtin is None:
                return Barcode("invalid", "", "product barcode check digit is wrong: scan again")
            return Barcode("gs1", _gtin_key(element.gtin), elements=elements)
    return Barcode("gs1", "", elements=elements)


def _gtin_key(gtin: Gtin) -> str:
    """GTIN-13 where the code fits in 13 digits, as the catalogue keys products."""
    try:
        return gtin.as_gtin_13()
    except biip.EncodeError:
        return gtin.value
