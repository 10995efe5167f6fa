"""What every scanner produces, whatever its kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

# A QR code holds at most 7,089 digits; anything longer is not a barcode read.
MAX_SCAN_CHARS = 7089


@dataclass(frozen=True)
class Scan:
    data: str
    symbology: str | None  # AIM identifier such as "]E0" when the scanner sends one
    source: str  # the scanner's configured id
    at: datetime


# A scanner hands each scan to a sink; the sink may answer with a line of text
# (the development scanner echoes it back to whoever typed the scan).
ScanSink = Callable[[Scan], str | None]
