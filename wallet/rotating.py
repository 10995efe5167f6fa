"""Rotating barcodes (Google Wallet): a screenshot of the pass stops working in a minute.

Google renders `valuePattern` with a fresh TOTP (RFC 6238, SHA-1, 8 digits, 30 s) every
period, so the barcode reads ``<pass code>/<8 digits>`` - still QR alphanumeric ('/' is in
that set). The TOTP secret of a pass is derived from a master secret the centre and the
stores share, so a store can check it without a per-pass download. The signed pass code
in front stays the proof of who issued the pass; the digits prove the code is live.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyotp

from wallet.codes import CODE_PATTERN

PERIOD_SECONDS = 30
DIGITS = 8
# One period either side: the phone's clock and the till's may differ a little, and the
# customer needs a few seconds between showing the code and the scan.
WINDOW_PERIODS = 1
# The digits after the code: Google shows `DIGITS`; a few either way are still read.
OTP_PATTERN = r"[0-9]{6,10}"
_ROTATING = re.compile(rf"^(?P<code>{CODE_PATTERN})/(?P<otp>{OTP_PATTERN})$")
# What a till reads off a pass: the static code, or the code and a TOTP when it rotates.
SCANNED_PASS_PATTERN = rf"^{CODE_PATTERN}(/{OTP_PATTERN})?$"


@dataclass(frozen=True)
class RotatingScan:
    code: str  # the static signed pass code
    otp: str


def split_rotating(text: str) -> RotatingScan | None:
    """A rotating scan split into its pass code and TOTP digits; None for anything else."""
    match = _ROTATING.match(text.strip())
    return RotatingScan(match["code"], match["otp"]) if match else None


def pass_totp_secret(master_secret: bytes, serial: str) -> bytes:
    """The per-pass TOTP secret (20 bytes, the size RFC 4226 recommends for SHA-1)."""
    return hmac.new(master_secret, f"totp:{serial}".encode(), hashlib.sha256).digest()[:20]


def totp_is_current(secret: bytes, otp: str, now: datetime) -> bool:
    totp = _totp(secret)
    return totp.verify(otp, for_time=now, valid_window=WINDOW_PERIODS)


def current_otp(secret: bytes, now: datetime) -> str:
    """What the customer's phone shows at `now` (for tests and the kiosk simulator)."""
    return _totp(secret).at(now)


def google_rotating_barcode(code: str, secret: bytes) -> dict[str, Any]:
    """The `rotatingBarcode` of a Google Wallet object carrying `code`."""
    return {
        "type": "QR_CODE",
        "renderEncoding": "UTF_8",
        "valuePattern": code + "/{totp_value_0}",
        "totpDetails": {
            "periodMillis": str(PERIOD_SECONDS * 1000),
            "algorithm": "TOTP_SHA1",
            "parameters": [{"key": secret.hex(), "valueLength": DIGITS}],
        },
    }


def _totp(secret: bytes) -> pyotp.TOTP:
    return pyotp.TOTP(
        base64.b32encode(secret).decode(),
        digits=DIGITS,
        interval=PERIOD_SECONDS,
        digest=hashlib.sha1,
    )
