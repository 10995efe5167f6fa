"""Building Apple Wallet passes: pass.json for a loyalty card (storeCard) or a coupon,
localised labels (es, en), images, manifest.json (SHA-1 of every file), the signature,
all zipped into a .pkpass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wallet.apple.signing import PassSigningIdentity, sign_manifest
from wallet.apple.zipwriter import pkpass_zip
from wallet.content import Coupon, LoyaltyCard

MEDIA_TYPE = "application/vnd.apple.pkpass"
# Apple ignores the web service unless the token is at least 16 characters.
MIN_AUTH_TOKEN_LENGTH = 16

# Labels are keys into <lang>.lproj/pass.strings; Wallet shows the device language's text.
STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "points": "Points",
        "tier": "Tier",
        "member": "Member",
        "member_number": "Member number",
        "offer": "Offer",
        "expires": "Expires",
        "terms": "Terms",
        "how_to_use": "How to use",
        "how_to_use_text": "Show this pass at the till or scan it at the kiosk.",
        "tier.bronze": "Bronze",
        "tier.silver": "Silver",
        "tier.gold": "Gold",
        "tier.platinum": "Platinum",
        "change.points": "You now have %@ points",
        "change.tier": "Welcome to %@!",
    },
    "es": {
        "points": "Puntos",
        "tier": "Nivel",
        "member": "Socio",
        "member_number": "Número de socio",
        "offer": "Oferta",
        "expires": "Caduca",
        "terms": "Condiciones",
        "how_to_use": "Cómo usarla",
        "how_to_use_text": "Muestra este pase en caja o escanéalo en el quiosco.",
        "tier.bronze": "Bronce",
        "tier.silver": "Plata",
        "tier.gold": "Oro",
        "tier.platinum": "Platino",
        "change.points": "Ahora tienes %@ puntos",
        "change.tier": "¡Bienvenido al nivel %@!",
    },
}


@dataclass(frozen=True)
class AppleSettings:
    pass_type_id: str
    team_id: str
    organization_name: str
    web_service_url: str | None = None
    background_rgb: tuple[int, int, int] = (28, 52, 92)
    foreground_rgb: tuple[int, int, int] = (255, 255, 255)
    label_rgb: tuple[int, int, int] = (200, 214, 235)


def pass_json(
    content: LoyaltyCard | Coupon, settings: AppleSettings, auth_token: str | None
) -> dict[str, Any]:
    """The pass.json document for `content`."""
    doc: dict[str, Any] = {
        "formatVersion": 1,
        "passTypeIdentifier": settings.pass_type_id,
        "teamIdentifier": settings.team_id,
        "serialNumber": content.serial,
        "organizationName": settings.organization_name,
        "description": f"{settings.organization_name} "
        + ("loyalty card" if isinstance(content, LoyaltyCard) else "coupon"),
        "logoText": settings.organization_name,
        "backgroundColor": _rgb(settings.background_rgb),
        "foregroundColor": _rgb(settings.foreground_rgb),
        "labelColor": _rgb(settings.label_rgb),
        "barcodes": [
            {
                "format": "PKBarcodeFormatQR",
                "message": content.code,
                "messageEncoding": "iso-8859-1",
            }
        ],
        "sharingProhibited": True,
    }
    if settings.web_service_url and auth_token:
        if len(auth_token) < MIN_AUTH_TOKEN_LENGTH:
            raise ValueError("the pass authentication token must be at least 16 characters")
        doc["webServiceURL"] = settings.web_service_url
        doc["authenticationToken"] = auth_token
    if isinstance(content, LoyaltyCard):
        doc["storeCard"] = _store_card(content)
    else:
        doc["coupon"] = _coupon(content)
        if content.expires_at is not None:
            doc["expirationDate"] = _w3c(content.expires_at)
    return doc


def build_pkpass(
    document: Mapping[str, Any],
    identity: PassSigningIdentity,
    images: Mapping[str, bytes] | None = None,
    strings: Mapping[str, Mapping[str, str]] = STRINGS,
) -> bytes:
    """The signed .pkpass (zip) for `document`; images default to the store's initials."""
    files: dict[str, bytes] = {
        # Compact JSON: the C encoder, several times faster than an indented dump, and a
        # campaign re-issues passes by the hundred thousand.
        "pass.json": json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode(),
    }
    if images is None:
        name = str(document.get("organizationName", "?"))
        initials = "".join(word[0] for word in name.split()[:2])
        # Drawn with Pillow, imported only here: a till that scans passes never draws one.
        from wallet.apple.images import default_images

        images = default_images(initials, _parse_rgb(str(document.get("backgroundColor", ""))))
    shared = tuple(sorted({**images, **_strings_files(strings)}.items()))
    manifest = json.dumps(
        {name: hashlib.sha1(data).hexdigest() for name, data in sorted((*shared, *files.items()))},
        separators=(",", ":"),
    ).encode()
    own = (
        ("pass.json", files["pass.json"], True),
        ("manifest.json", manifest, False),
        ("signature", sign_manifest(manifest, identity), False),
    )
    return pkpass_zip(shared, own)


def _strings_files(strings: Mapping[str, Mapping[str, str]]) -> dict[str, bytes]:
    """<lang>.lproj/pass.strings for each language; the default tables are made once."""
    if strings is STRINGS:
        return _DEFAULT_STRINGS_FILES
    return {
        f"{language}.lproj/pass.strings": strings_file(table)
        for language, table in sorted(strings.items())
    }


def strings_file(table: Mapping[str, str]) -> bytes:
    """A .strings file (`"key" = "value";` lines), UTF-16 with BOM as Apple documents."""
    lines = [f'"{_escape(key)}" = "{_escape(value)}";' for key, value in sorted(table.items())]
    return ("\n".join(lines) + "\n").encode("utf-16")


def _store_card(card: LoyaltyCard) -> dict[str, Any]:
    # changeMessage on points and tier: Wallet shows it on the lock screen when an
    # updated pass arrives with a different value there.
    fields: dict[str, Any] = {
        "primaryFields": [
            {
                "key": "points",
                "label": "points",
                "value": card.points,
                "numberStyle": "PKNumberStyleDecimal",
                "changeMessage": "change.points",
            }
        ],
        "secondaryFields": [{"key": "member", "label": "member", "value": card.member_name}],
        "auxiliaryFields": [],
        "backFields": [{"key": "how_to_use", "label": "how_to_use", "value": "how_to_use_text"}],
    }
    if card.tier:
        fields["auxiliaryFields"].append(
            {
                "key": "tier",
                "label": "tier",
                "value": f"tier.{card.tier}",
                "changeMessage": "change.tier",
            }
        )
    if card.member_number:
        fields["backFields"].insert(
            0, {"key": "member_number", "label": "member_number", "value": card.member_number}
        )
    return fields


def _coupon(coupon: Coupon) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "primaryFields": [{"key": "offer", "label": "offer", "value": coupon.title}],
        "auxiliaryFields": [],
        "backFields": [
            {"key": "terms", "label": "terms", "value": coupon.terms},
            {"key": "how_to_use", "label": "how_to_use", "value": "how_to_use_text"},
        ],
    }
    if coupon.expires_at is not None:
        fields["auxiliaryFields"].append(
            {
                "key": "expires",
                "label": "expires",
                "value": _w3c(coupon.expires_at),
                "dateStyle": "PKDateStyleMedium",
            }
        )
    return fields


def _w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({}, {}, {})".format(*colour)


def _parse_rgb(text: str) -> tuple[int, int, int]:
    try:
        r, g, b = (int(part) for part in text.removeprefix("rgb(").rstrip(")").split(","))
    except ValueError:
        return (28, 52, 92)
    return r, g, b


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


_DEFAULT_STRINGS_FILES = {
    f"{language}.lproj/pass.strings": strings_file(table)
    for language, table in sorted(STRINGS.items())
}
