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
CARD_DATA_REASON = "payment card data is not accepted here: use the card terminal"
_PAN_SEPARATORS = re.compile(r"[ \-]")
_PAN_LENGTHS = range(13, 20)
# Product codes are 13 or 14 digits too; one with a valid GS1 check digit is a product.
_GTIN_SHARED_LENGTHS = (13, 14)
# Symbologies that only print product codes (EAN/UPC, GS1 DataBar); their data is never a PAN.
_PRODUCT_SYMBOLOGIES = ("]E", "]e")


def looks_like_card_data(text: str, symbology: str | None = None) -> bool:
    """True if `text` is (or holds) a payment card number or magnetic-stripe track data.

    A card number here: 13-19 digits (spaces/dashes allowed), Luhn-valid, from a payment
    issuer range; 13/14-digit ones with a valid GS1 check digit, or read from an EAN/UPC
    symbology, are products, since refusing a product barcode would stop the till."""
    if _TRACK_1.search(text) or _TRACK_2.search(text):
        return True
    digits = _PAN_SEPARATORS.sub("", text.strip())
    if not digits.isascii() or not digits.isdigit() or len(digits) not in _PAN_LENGTHS:
        return False
    if not luhn_valid(digits) or not _card_issuer_prefix(digits):
        return False
    if len(digits) not in _GTIN_SHARED_LENGTHS:
        return True  # no product code is 15-19 digits: whatever the sender claims
    if symbology is not None and symbology.startswith(_PRODUCT_SYMBOLOGIES):
        return False
    return not _valid_gtin(digits)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card_issuer_prefix(digits: str) -> bool:
    """Payment networks issue from 3xx-6xx and Mastercard's 2221-2720 (ISO/IEC 7812 IINs);
    store codes such as loyalty cards in GS1's 2x range fall outside that."""
    return digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720


def _valid_gtin(digits: str) -> bool:
    return biip.parse(digits).gtin is not None
