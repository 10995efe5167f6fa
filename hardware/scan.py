"""What every scanner produces, whatever its kind, checked once where it is made."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from hardware.symbology import GROUP_SEPARATOR, split_symbology

# A QR code holds at most 7,089 digits; anything longer is not a barcode read.
MAX_SCAN_CHARS = 7089

Unreadable = Literal["empty", "too_long", "card_data", "garbled"]
UNREADABLE_REASONS: dict[Unreadable, str] = {
    "empty": "empty scan: scan again",
    "too_long": "scan too long to be a barcode: scan again",
    "card_data": CARD_DATA_REASON,
    "garbled": "unreadable scan (garbled characters): scan again",
}


@dataclass(frozen=True)
class Scan:
    """One read. Whoever makes it (a scanner's delivery, the API, the kiosk), it is
    checked here, once: the AIM identifier is split off `data` when `symbology` is not
    given, and a read that cannot be a barcode (empty, too long, garbled, or payment card
    data) is marked `unreadable` and keeps no data, so card data goes no further."""

    data: str
    symbology: str | None  # AIM identifier such as "]E0" when the scanner sends one
    source: str  # the scanner's configured id
    at: datetime
    unreadable: Unreadable | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        symbology, data = self.symbology, self.data.strip()
        if symbology is None:
            symbology, data = split_symbology(data)
            data = data.strip()
        unreadable = why_unreadable(data, symbology)
        # Frozen: the checked values are set once, here, before anyone can see the scan.
        object.__setattr__(self, "symbology", symbology)
        object.__setattr__(self, "data", "" if unreadable else data)
        object.__setattr__(self, "unreadable", unreadable)

    @property
    def reason(self) -> str | None:
        """Why the read was refused, in words a cashier can act on."""
        return UNREADABLE_REASONS[self.unreadable] if self.unreadable else None


def why_unreadable(data: str, symbology: str | None = None) -> Unreadable | None:
    """Why `data` (symbology identifier already split off) cannot be a barcode, if so."""
    if not data:
        return "empty"
    # Card data first: a swipe inside an over-long read is still counted as card data.
    if looks_like_card_data(data, symbology):
        return "card_data"
    if len(data) > MAX_SCAN_CHARS:
        return "too_long"
    if "\ufffd" in data or any(
        unicodedata.category(ch) == "Cc" and ch != GROUP_SEPARATOR for ch in data
    ):
        return "garbled"
    return None


# A scanner hands each scan to a sink; the sink may answer with a line of text
# (the development scanner echoes it back to whoever typed the scan).
ScanSink = Callable[[Scan], str | None]
