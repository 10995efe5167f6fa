"""Keep payment card data out of the agent (and so out of PCI scope).

A keyboard-wedge channel can carry a magnetic-stripe swipe as easily as a barcode, and a
cashier can type a card number into the wrong field. Anything that looks like card data
is dropped where it enters: never stored, never logged, only counted.
"""

from __future__ import annotations

import re

import biip

# ISO/IEC 7813 track 1 ("%B<PAN>^NAME^...") and track 2 (";<PAN>=<expiry>...") framing;
# searched anywhere in a read because a swipe may carry both tracks in one line.
_TRACK_1 = re.compile(r"%?B\d{12,19}\^")
_TRACK_2 = re.compile(r";\d{12,19}=")
# Card numbers are often keyed or printed in groups: "4111 1111-1111 1111".
_PAN_SEPARATORS = re.compile(r"[ \-]")
_PAN_LENGTHS = range(13, 20)
# Product codes are 13 or 14 digits too; one with a valid GS1 check digit is a product.
_GTIN_SHARED_LENGTHS = (13, 14)
# Symbologies that only print product codes (EAN/UPC, GS1 DataBar); their data is never a PAN.
_PRODUCT_SYMBOLOGIES = ("]E", "]e")


def looks_like_card_data(text: str, symbology: str | None = None) -> bool:
    """True if `text` is (or holds) a payment card number or magnetic-stripe track data."""
    if _TRACK_1.search(text) or _TRACK_2.search(text):
        return True
    digits = _PAN_SEPARATORS.sub("", text.strip())
    if not digits.isascii() or not digits.isdigit() or len(digits) not in _PAN_LENGTHS:
        return False
    if not luhn_valid(digits):
        return False
    if symbology is not None and symbology.startswith(_PRODUCT_SYMBOLOGIES):
        return False
    return not (len(digits) in _GTIN_SHARED_LENGTHS and _valid_gtin(digits))


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _valid_gtin(digits: str) -> bool:
    return biip.parse(digits).gtin is not None
