"""What a scanned or typed string is: the one classifier, and the one definition of each
code format the store reads (loyalty card and order number from config, the kiosk's
return slip, the wallet's pass code).

`hardware` delivers symbols (checked scans, GTIN and GS1 parsing); the meaning of a
code is decided here, for the scan dispatcher and for what staff type alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from edge_agent.config import Config
from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from hardware.gs1 import UnreadableProductCode, is_gs1_framed, read_product_code
from hardware.scan import Scan
from sync.protocol.event_schemas import REQUESTED_ORDER_NUMBER
from wallet.rotating import SCANNED_PASS_PATTERN

CodeKind = Literal[
    "loyalty_id",
    "order_number",
    "gtin",
    "gs1",
    "pass_code",
    "return_request",
    "email",
    "phone",
    "invalid",
]
# A return slip from the kiosk: "RR:" and the request's long random id (URL-safe base64).
RETURN_SLIP_PREFIX = "RR:"
RETURN_SLIP_ID_MAX = 64
_RETURN_SLIP = re.compile(rf"^{RETURN_SLIP_PREFIX}[A-Za-z0-9_-]{{16,{RETURN_SLIP_ID_MAX}}}$")
MAX_TYPED_LENGTH = 254  # the longest valid email address
_PHONE_CHARS = re.compile(r"^[+\d\s().-]{6,24}$")
UNKNOWN_BARCODE = "not a barcode this till knows (loyalty card, order or product)"
UNKNOWN_TYPED = "not a loyalty number, email or phone number; scan the card or type it again"
EMPTY_TYPED = "enter a loyalty number, email or phone number"
TOO_LONG_TYPED = "that is too long for a loyalty number, email or phone number"


@dataclass(frozen=True)
class Code:
    kind: CodeKind
    value: str  # normalised ("W100000001", GTIN-13); "" when kind == "invalid"
    reason: str | None = None  # set when kind == "invalid"
    # GS1 element strings as (application identifier, value), in scan order.
    elements: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class CodeRules:
    """The retailer's own code formats (patterns matched against the whole string)."""

    loyalty_id_pattern: str
    order_number_pattern: str
    pass_code_pattern: str = SCANNED_PASS_PATTERN

    @classmethod
    def from_config(cls, config: Config) -> CodeRules:
        """The one place the configured loyalty and order number patterns are read."""
        return cls(config.loyalty.id_pattern, config.orders.number_pattern)

    def is_loyalty_id(self, text: str) -> bool:
        return re.fullmatch(self.loyalty_id_pattern, text) is not None

    def order_number(self, text: str) -> str | None:
        """`text` as an order number (upper case), or None if it is not one: the web
        shop's pattern, or the number a till gave an order it requested (R + 16 hex)."""
        number = text.strip().upper()
        if re.fullmatch(self.order_number_pattern, number) or re.fullmatch(
            REQUESTED_ORDER_NUMBER, number
        ):
            return number
        return None


def classify_scan(scan: Scan, rules: CodeRules) -> Code:
    """What a scanned code is; never raises (a bad read becomes kind "invalid")."""
    if scan.unreadable:
        return _invalid(scan.reason or "")
    value, symbology = scan.data, scan.symbology
    if is_gs1_framed(value, symbology):
        return _product(value, symbology) or _invalid(UNKNOWN_BARCODE)
    if re.fullmatch(rules.pass_code_pattern, value):
        return Code("pass_code", value)
    if is_return_slip(value):
        return Code("return_request", value)
    if rules.is_loyalty_id(value):
        return Code("loyalty_id", value)
    if number := rules.order_number(value):
        return Code("order_number", number)
    return _product(value, symbology) or _invalid(UNKNOWN_BARCODE)


def classify_typed(text: str, rules: CodeRules) -> Code:
    """What staff typed to find a customer or an order: an email, loyalty number, order
    number or phone number; never raises. Card data is refused without being kept."""
    value = text.strip()
    if not value:
        return _invalid(EMPTY_TYPED)
    if len(value) > MAX_TYPED_LENGTH:
        return _invalid(TOO_LONG_TYPED)
    if looks_like_card_data(value):
        return _invalid(CARD_DATA_REASON)
    if "@" in value:
        return Code("email", value)
    compact = re.sub(r"\s", "", value)
    if rules.is_loyalty_id(compact):
        return Code("loyalty_id", compact)
    if number := rules.order_number(value):
        return Code("order_number", number)
    if _PHONE_CHARS.match(value):
        return Code("phone", value)
    return _invalid(UNKNOWN_TYPED)


def is_return_slip(text: str) -> bool:
    return _RETURN_SLIP.fullmatch(text) is not None


def return_slip_code(request_id: str) -> str:
    """What a kiosk return slip's QR code carries and the till scans."""
    return RETURN_SLIP_PREFIX + request_id


def return_slip_id(code: str) -> str:
    """The request id in a slip code (`RR:<id>`) or a bare id."""
    return code.strip().removeprefix(RETURN_SLIP_PREFIX)


def _product(value: str, symbology: str | None) -> Code | None:
    try:
        product = read_product_code(value, symbology)
    except UnreadableProductCode as exc:
        return _invalid(str(exc))
    if product is None:
        return None
    return Code(product.kind, product.gtin, elements=product.elements)


def _invalid(reason: str) -> Code:
    return Code("invalid", "", reason)
