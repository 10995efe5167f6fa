"""Issuing passes where the private keys are (the centre, or a development machine):
the signed code, the Apple .pkpass and the Google object and save link for one card."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from wallet.apple.pkpass import AppleSettings, build_pkpass, pass_json
from wallet.apple.signing import PassSigningIdentity
from wallet.codes import PassKind, PassSigner
from wallet.content import Coupon, LoyaltyCard
from wallet.errors import WalletError
from wallet.google.objects import GoogleSettings, loyalty_object
from wallet.google.save import SaveLink, save_link
from wallet.rotating import google_rotating_barcode, pass_totp_secret

if TYPE_CHECKING:
    from google.oauth2 import service_account

# Serial: kind letter + 12 base32 characters (60 random bits): short enough to keep the
# code in QR version 6-M, too many to guess one that exists.
_SERIAL_RANDOM_CHARS = 12
_KIND_LETTER = {"loyalty": "L", "coupon": "C", "pickup": "P"}


@dataclass(frozen=True)
class AppleIssuing:
    settings: AppleSettings
    identity: PassSigningIdentity


@dataclass(frozen=True)
class GoogleIssuing:
    settings: GoogleSettings
    credentials: service_account.Credentials
    origins: tuple[str, ...]


@dataclass(frozen=True)
class PassIssuer:
    signer: PassSigner
    apple: AppleIssuing | None = None
    google: GoogleIssuing | None = None
    rotating_secret: bytes | None = None  # master secret for Google rotating barcodes

    def code(self, kind: PassKind, reference: str, now: datetime) -> str:
        return self.signer.sign(kind, reference, now)

    def apple_pass(self, content: LoyaltyCard | Coupon, auth_token: str) -> bytes:
        apple = self._apple()
        return build_pkpass(pass_json(content, apple.settings, auth_token), apple.identity)

    def google_object(self, card: LoyaltyCard) -> dict[str, Any]:
        google = self._google()
        rotating = None
        if self.rotating_secret is not None:
            secret = pass_totp_secret(self.rotating_secret, card.serial)
            rotating = google_rotating_barcode(card.code, secret)
        return loyalty_object(google.settings, card, rotating)

    def google_save_link(self, card: LoyaltyCard, now: datetime) -> SaveLink:
        google = self._google()
        return save_link(
            google.credentials, self.google_object(card), origins=google.origins, now=now
        )

    def _apple(self) -> AppleIssuing:
        if self.apple is None:
            raise WalletError(
                "Apple passes are not set up here: set wallet.apple_cert_file, "
                "apple_key_file and apple_wwdr_file"
            )
        return self.apple

    def _google(self) -> GoogleIssuing:
        if self.google is None:
            raise WalletError(
                "Google passes are not set up here: set wallet.google_issuer_id and "
                "google_service_account_file"
            )
        return self.google


def new_serial(kind: PassKind) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    return _KIND_LETTER[kind] + "".join(
        secrets.choice(alphabet) for _ in range(_SERIAL_RANDOM_CHARS)
    )


def new_auth_token() -> str:
    """The ApplePass authentication token of one pass (Apple wants 16+ characters)."""
    return secrets.token_urlsafe(24)
