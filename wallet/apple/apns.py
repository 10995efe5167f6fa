"""APNs pushes for pass updates: HTTP/2, token (JWT ES256) authentication.

A pass update push carries no content: topic = the pass type id, body `{}`. The device
then asks the web service which serials changed. APNs answers 200 (accepted), 410 (the
token is no longer valid: forget the registration) or another error (keep it queued).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wallet.errors import WalletError

if TYPE_CHECKING:
    import httpx

# httpx (HTTP/2) and google-auth (the ES256 JWT) are imported where a push is sent: they
# are the centre's packages (`central` extra), and a store device imports this module.

APNS_PRODUCTION_URL = "https://api.push.apple.com"
# Apple refuses a provider token older than an hour and throttles one renewed more often
# than every 20 minutes; 40 minutes sits between.
TOKEN_LIFETIME_SECONDS = 40 * 60
REQUEST_TIMEOUT_SECONDS = 10.0
# A push that failed this often is dropped (logged): the device still updates the next
# time the pass is opened, and the queue must not grow for ever.
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class ApnsSettings:
    team_id: str
    key_id: str
    key_pem: bytes  # the ES256 AuthKey_<key_id>.p8
    url: str = APNS_PRODUCTION_URL


@dataclass(frozen=True)
class PushResult:
    status: int
    reason: str | None


class ApnsSender:
    """One HTTP/2 connection to APNs, reused for every push."""

    def __init__(self, settings: ApnsSettings, verify: ssl.SSLContext | bool = True) -> None:
        import httpx
        from google.auth import crypt

        try:
            self._signer = crypt.ES256Signer.from_string(settings.key_pem, settings.key_id)
        except ValueError as exc:
            raise WalletError(f"the APNs key is not an ES256 private key: {exc}") from None
        self._settings = settings
        self._client: httpx.Client = httpx.Client(
            http2=True, verify=verify, timeout=REQUEST_TIMEOUT_SECONDS, base_url=settings.url
        )
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def push(self, push_token: str, topic: str) -> PushResult:
        import httpx

        try:
            response = self._client.post(
                f"/3/device/{push_token}",
                content=b"{}",
                headers={
                    "authorization": f"bearer {self._provider_token()}",
                    "apns-topic": topic,
                    "apns-push-type": "background",
                    "apns-priority": "5",
                },
            )
        except httpx.HTTPError as exc:
            return PushResult(0, f"network: {exc}")
        reason = None
        if response.status_code != 200:
            try:
                reason = json.loads(response.content).get("reason")
            except (ValueError, AttributeError):
                reason = response.text[:200] or None
        return PushResult(response.status_code, reason)

    def close(self) -> None:
        self._client.close()

    def _provider_token(self) -> str:
        from google.auth import jwt as google_jwt

        with self._lock:
            now = time.time()
            if self._token is None or now - self._token[1] > TOKEN_LIFETIME_SECONDS:
                token = google_jwt.encode(
                    self._signer, {"iss": self._settings.team_id, "iat": int(now)}
                ).decode()
                self._token = (token, now)
            return self._token[0]
