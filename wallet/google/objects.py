"""Google Wallet loyalty class and object JSON (Wallet REST API v1 resources)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wallet.content import LoyaltyCard

_TIER_NAMES = {
    "es": {"bronze": "Bronce", "silver": "Plata", "gold": "Oro", "platinum": "Platino"},
    "en": {"bronze": "Bronze", "silver": "Silver", "gold": "Gold", "platinum": "Platinum"},
}
_LABELS = {
    "es": {"points": "Puntos", "tier": "Nivel"},
    "en": {"points": "Points", "tier": "Tier"},
}


@dataclass(frozen=True)
class GoogleSettings:
    issuer_id: str  # the number the Google Pay & Wallet console shows
    class_suffix: str
    program_name: str
    issuer_name: str
    logo_url: str
    language: str = "es"
    background_hex: str = "#1c345c"

    @property
    def class_id(self) -> str:
        return f"{self.issuer_id}.{self.class_suffix}"

    def object_id(self, serial: str) -> str:
        return f"{self.issuer_id}.{serial}"


def loyalty_class(settings: GoogleSettings, callback_url: str | None = None) -> dict[str, Any]:
    """The loyalty class; with `callback_url`, Google posts its signed save/delete
    callbacks for the class's passes there."""
    cls: dict[str, Any] = {
        "id": settings.class_id,
        "issuerName": settings.issuer_name,
        "programName": settings.program_name,
        "programLogo": {"sourceUri": {"uri": settings.logo_url}},
        "hexBackgroundColor": settings.background_hex,
        "reviewStatus": "UNDER_REVIEW",
        # A loyalty card belongs to one person; Google then refuses saving it twice.
        "multipleDevicesAndHoldersAllowedStatus": "ONE_USER_ALL_DEVICES",
    }
    if callback_url:
        cls["callbackOptions"] = {"url": callback_url}
    return cls


def loyalty_object(
    settings: GoogleSettings,
    card: LoyaltyCard,
    rotating_barcode: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The loyalty object for `card`: a static QR, or the rotating one when given."""
    obj: dict[str, Any] = {
        "id": settings.object_id(card.serial),
        "classId": settings.class_id,
        "state": "ACTIVE",
        "accountName": card.member_name,
        "loyaltyPoints": loyalty_points(settings, card.points),
    }
    if card.member_number:
        obj["accountId"] = card.member_number
    if card.tier:
        obj["textModulesData"] = [tier_module(settings, card.tier)]
    if rotating_barcode is not None:
        obj["rotatingBarcode"] = rotating_barcode
    else:
        obj["barcode"] = {"type": "QR_CODE", "value": card.code}
    return obj


def loyalty_points(settings: GoogleSettings, points: int) -> dict[str, Any]:
    return {"label": _labels(settings)["points"], "balance": {"int": points}}


def tier_module(settings: GoogleSettings, tier: str) -> dict[str, Any]:
    names = _TIER_NAMES.get(settings.language, _TIER_NAMES["en"])
    return {"id": "tier", "header": _labels(settings)["tier"], "body": names.get(tier, tier)}


def _labels(settings: GoogleSettings) -> dict[str, str]:
    return _LABELS.get(settings.language, _LABELS["en"])
