"""The "Save to Google Wallet" link: a JWT signed with the issuer's service-account key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from google.oauth2 import service_account

SAVE_URL = "https://pay.google.com/gp/v/save/"
# Google's guidance: keep the save JWT under 1,800 characters, or some browsers cut the
# link. A longer one is replaced by a JWT that names an object inserted beforehand.
MAX_SAVE_JWT_LENGTH = 1800
# A save link is shown at the till or sent right after issuing; a short life keeps a
# leaked link from adding the pass later, and an `exp` is what generic JWT verifiers
# (google.auth.jwt.decode among them) require before they accept a token.
SAVE_JWT_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True)
class SaveLink:
    url: str
    jwt: str
    # True when the object was too big to travel in the link: insert it through the REST
    # API first (`GoogleWalletClient.insert_object`), the link then only names it.
    requires_insert: bool


def save_link(
    credentials: service_account.Credentials,
    loyalty_object: dict[str, Any],
    *,
    origins: Sequence[str],
    now: datetime,
    loyalty_class: dict[str, Any] | None = None,
) -> SaveLink:
    token = save_jwt(credentials, loyalty_object, origins=origins, now=now, cls=loyalty_class)
    requires_insert = False
    if len(token) > MAX_SAVE_JWT_LENGTH:
        reference = {"id": loyalty_object["id"], "classId": loyalty_object["classId"]}
        token = save_jwt(credentials, reference, origins=origins, now=now, cls=None)
        requires_insert = True
    return SaveLink(SAVE_URL + token, token, requires_insert)


def save_jwt(
    credentials: service_account.Credentials,
    loyalty_object: dict[str, Any],
    *,
    origins: Sequence[str],
    now: datetime,
    cls: dict[str, Any] | None = None,
) -> str:
    payload: dict[str, Any] = {"loyaltyObjects": [loyalty_object]}
    if cls is not None:
        payload["loyaltyClasses"] = [cls]
    claims = {
        "iss": credentials.service_account_email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(now.timestamp()),
        "exp": int((now + SAVE_JWT_LIFETIME).timestamp()),
        "origins": list(origins),
        "payload": payload,
    }
    # Imported when a link is signed: google-auth's JWT module is a tenth of the agent's
    # start-up, and a store that issues no Google passes never needs it.
    from google.auth import jwt as google_jwt

    return google_jwt.encode(credentials.signer, claims).decode()
