"""Product barcodes: GTIN check digits and GS1 element strings, parsed by `biip` (GS1 is
not hand-rolled). Which product a code names is the agent's business; this reads the
symbol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import biip
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from hardware.symbology import GROUP_SEPARATOR, is_gs1

GTIN_LENGTHS = (8, 12, 13, 14)
BAD_CHECK_DIGIT = "product barcode check digit is wrong: scan again"
BAD_GS1 = "GS1 barcode could not be read (bad data or check digit)"


@dataclass(frozen=True)
class ProductCode:
    kind: Literal["gtin", "gs1"]
    gtin: str  # GTIN-13 where it fits, as the catalogue keys products; "" if a GS1 code has none
    # GS1 element strings as (application identifier, value), in scan order.
    elements: tuple[tuple[str, str], ...] = ()


class UnreadableProductCode(ValueError):
    """Shaped like a product code but wrong (check digit, GS1 syntax); the message says so."""


def is_gs1_framed(data: str, symbology: str | None) -> bool:
    """GS1 element strings, whatever else the data looks like: read by a GS1 symbology,
    carrying FNC1 separators, or in the human-readable "(01)..." form."""
    return is_gs1(symbology) or GROUP_SEPARATOR in data or data.startswith("(0")


def read_product_code(data: str, symbology: str | None = None) -> ProductCode | None:
    """The product code in `data`; None when it is not shaped like one. Raises
    UnreadableProductCode when it is, but cannot be right."""
    if is_gs1_framed(data, symbology):
        return _read_gs1(data)
    if data.isascii() and data.isdigit() and len(data) in GTIN_LENGTHS:
        result = biip.parse(data)
        if result.gtin is None:
            raise UnreadableProductCode(BAD_CHECK_DIGIT)
        return ProductCode("gtin", result.gtin.as_gtin_13() if len(data) < 13 else data)
    if data.isascii() and data.isdigit() and len(data) > 16 and data.startswith("01"):
        # A GS1-128 read by a scanner that sends no symbology identifier.
        return _read_gs1(data)
    return None


def _read_gs1(data: str) -> ProductCode:
    try:
        hri = data.startswith("(")  # human-readable "(01)...(10)..." form
        message = GS1Message.parse_hri(data) if hri else GS1Message.parse(data)
    except (biip.ParseError, ValueError):
        raise UnreadableProductCode(BAD_GS1) from None
    elements = tuple((element.ai.ai, element.value) for element in message.element_strings)
    for element in message.element_strings:
        if element.ai.ai == "01":
            if element.gtin is None:
                raise UnreadableProductCode(BAD_CHECK_DIGIT)
            return ProductCode("gs1", _gtin_key(element.gtin), elements)
    return ProductCode("gs1", "", elements)


def _gtin_key(gtin: Gtin) -> str:
    """GTIN-13 where the code fits in 13 digits, as the catalogue keys products."""
    try:
        return gtin.as_gtin_13()
    except biip.EncodeError:
        return gtin.value
