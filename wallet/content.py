"""What a pass shows, whichever wallet carries it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class LoyaltyCard:
    serial: str
    code: str  # the signed pass code the barcode carries
    member_name: str
    member_number: str | None
    tier: str | None
    points: int


@dataclass(frozen=True)
class Coupon:
    serial: str
    code: str
    title: str  # what the offer is, in the store's language ("-20 % en vestidos")
    expires_at: datetime | None
    terms: str
