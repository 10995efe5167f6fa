"""Google Wallet REST API calls (loyalty classes and objects) through google-auth's
AuthorizedSession, which fetches and refreshes the service account's access token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wallet.errors import NotifyLimitReached, WalletError

if TYPE_CHECKING:
    from google.oauth2 import service_account

# google-auth and requests are imported where the API is called: they are the centre's
# packages (`central` extra), and a store device imports this module.

API_BASE_URL = "https://walletobjects.googleapis.com/walletobjects/v1"
SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
REQUEST_TIMEOUT_SECONDS = 15


class GoogleWalletClient:
    def __init__(
        self, credentials: service_account.Credentials, base_url: str = API_BASE_URL
    ) -> None:
        from google.auth.transport.requests import AuthorizedSession

        self._session = AuthorizedSession(credentials.with_scopes([SCOPE]))
        self._base = base_url.rstrip("/")

    def insert_class(self, cls: dict[str, Any]) -> dict[str, Any]:
        """Create the loyalty class; one that exists already is fetched instead."""
        return self._insert("loyaltyClass", cls)

    def insert_object(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._insert("loyaltyObject", obj)

    def patch_object(
        self, object_id: str, changes: dict[str, Any], *, notify: bool = False
    ) -> dict[str, Any]:
        """Change some fields; with `notify`, holders get a notification (if it is a
        field Google notifies about: points, tier...)."""
        body = dict(changes)
        if notify:
            body["notifyPreference"] = "notifyOnUpdate"
        return self._call("PATCH", f"/loyaltyObject/{object_id}", body)

    def add_message(
        self, object_id: str, message_id: str, header: str, body: str, *, notify: bool
    ) -> dict[str, Any]:
        message = {
            "id": message_id,
            "header": header,
            "body": body,
            "messageType": "TEXT_AND_NOTIFY" if notify else "TEXT",
        }
        return self._call("POST", f"/loyaltyObject/{object_id}/addMessage", {"message": message})

    def get_object(self, object_id: str) -> dict[str, Any]:
        return self._call("GET", f"/loyaltyObject/{object_id}", None)

    def close(self) -> None:
        self._session.close()

    def _insert(self, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._call("POST", f"/{resource}", body)
        except _Conflict:
            return self._call("GET", f"/{resource}/{body['id']}", None)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        from google.auth.exceptions import GoogleAuthError
        from requests import RequestException

        try:
            response = self._session.request(
                method, self._base + path, json=body, timeout=REQUEST_TIMEOUT_SECONDS
            )
        except (GoogleAuthError, RequestException) as exc:
            raise WalletError(f"Google Wallet API unreachable or refused our key: {exc}") from None
        if response.status_code == 409:
            raise _Conflict()
        if response.status_code == 429 or "QuotaExceeded" in response.text[:2000]:
            raise NotifyLimitReached(
                "Google Wallet refused: too many updates or notifications for this pass; "
                "it will go out without a notification"
            )
        if response.status_code >= 400:
            raise WalletError(
                f"Google Wallet API {method} {path} answered {response.status_code}: "
                f"{response.text[:300]}"
            )
        return response.json() if response.content else {}


class _Conflict(Exception):
    pass
