"""The centre's wallet service wired for tests: throw-away keys and certificates, the
APNs and Google stand-ins on loopback, the updater thread and the web service on a real
HTTP server. One `CentreWallet` per test; `close()` stops what it started."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google.oauth2 import service_account
from werkzeug.serving import make_server

from sync.central.db import CentralDb
from sync.central.wallet.registry import ThreadDb
from sync.central.wallet.service import WalletUpdater
from sync.central.wallet.web import WalletWeb, create_wallet_app
from tests.wallet.apns_standin import ApnsStandIn
from tests.wallet.google_callback_sender import GoogleCallbackSender
from tests.wallet.google_standin import API_PREFIX, GoogleStandIn
from wallet.apple.apns import ApnsSender, ApnsSettings
from wallet.apple.pkpass import AppleSettings
from wallet.apple.signing import PassSigningIdentity
from wallet.codes import PassSigner
from wallet.devcerts import make_apns_key, make_apple_credentials, make_service_account
from wallet.google.callbacks import CallbackVerifier, parse_root_keys
from wallet.google.client import GoogleWalletClient
from wallet.google.objects import GoogleSettings
from wallet.issuer import AppleIssuing, GoogleIssuing, PassIssuer
from wallet.keys import load_signing_key, public_key_path, write_signing_key

PASS_TYPE_ID = "pass.com.example.edge-agent"
TEAM_ID = "DEVTEAM001"
ISSUER_ID = "3388000000012345678"


@dataclass
class CentreWallet:
    db_url: str
    keys_dir: Path  # the centre's: private key included
    store_keys_dir: Path  # what a store gets: the public key only
    issuer: PassIssuer
    wwdr_pem: bytes
    apns: ApnsStandIn
    google: GoogleStandIn
    google_client: GoogleWalletClient
    callbacks: GoogleCallbackSender
    updater: WalletUpdater
    dbs: ThreadDb
    base_url: str
    _stops: list[Callable[[], None]]

    def db(self) -> CentralDb:
        return CentralDb(self.db_url)

    def close(self) -> None:
        for stop in reversed(self._stops):
            stop()


def start_centre_wallet(
    tmp_path: Path,
    db_url: str,
    publish: Callable[[str, bytes], None] | None = None,
    *,
    start_updater: bool = True,
) -> CentreWallet:
    stops: list[Callable[[], None]] = []
    keys_dir = tmp_path / "centre-keys"
    write_signing_key(keys_dir, 1)
    store_keys = tmp_path / "store-keys"
    store_keys.mkdir()
    shutil.copy(public_key_path(keys_dir, 1), public_key_path(store_keys, 1))

    apple = make_apple_credentials(PASS_TYPE_ID, TEAM_ID)
    identity = PassSigningIdentity.from_pem(
        apple.pass_cert_pem, apple.pass_key_pem, apple.wwdr_cert_pem
    )
    info, cert = make_service_account("http://127.0.0.1:1/token")
    google = GoogleStandIn(cert)
    google.start()
    stops.append(google.stop)
    credentials = service_account.Credentials.from_service_account_info(
        dict(info, token_uri=f"{google.base}/token")
    )
    google_client = GoogleWalletClient(credentials, base_url=google.base + API_PREFIX)
    stops.append(google_client.close)

    dbs = ThreadDb(db_url)
    stops.append(dbs.close)
    db = CentralDb(db_url)
    db.create_schema()
    db.close()
    # The web server first: the passes carry its URL as their webServiceURL.
    callbacks = GoogleCallbackSender(ISSUER_ID)
    holder: dict[str, PassIssuer] = {}
    web = _LazyWeb(holder, dbs, google_client, callbacks, publish)
    server = make_server("127.0.0.1", 0, web, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    issuer = PassIssuer(
        PassSigner(1, load_signing_key(keys_dir, 1)),
        apple=AppleIssuing(
            AppleSettings(PASS_TYPE_ID, TEAM_ID, "Demo Store", f"{base_url}/passkit"), identity
        ),
        google=GoogleIssuing(
            GoogleSettings(ISSUER_ID, "loyalty", "Club Demo", "Demo Store", "https://x/l.png"),
            credentials,
            ("https://shop.example",),
        ),
    )
    holder["issuer"] = issuer
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    stops.append(lambda: (server.shutdown(), thread.join(5)))

    apns = ApnsStandIn(tmp_path / "apns-tls")
    apns.start()
    stops.append(apns.stop)
    sender = ApnsSender(
        ApnsSettings(TEAM_ID, "KEY1234567", make_apns_key(), apns.url),
        verify=ssl.create_default_context(cafile=str(apns.ca_file)),
    )
    stops.append(sender.close)
    updater = WalletUpdater(db_url, issuer, sender, google_client, round_seconds=0.05)
    if start_updater:
        updater.start()
        stops.append(updater.stop)
    return CentreWallet(
        db_url, keys_dir, store_keys, issuer, apple.wwdr_cert_pem, apns, google,
        google_client, callbacks, updater, dbs, base_url, stops,
    )  # fmt: skip


class _LazyWeb:
    """The WSGI app, built on the first request (the issuer needs the server's URL)."""

    def __init__(self, holder, dbs, google_client, callbacks, publish) -> None:  # type: ignore[no-untyped-def]
        self._holder = holder
        self._args = (dbs, google_client, callbacks, publish)
        self._app = None
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        with self._lock:
            if self._app is None:
                dbs, google_client, callbacks, publish = self._args
                verifier = CallbackVerifier(ISSUER_ID, parse_root_keys(callbacks.keys_json()))
                self._app = create_wallet_app(
                    WalletWeb(self._holder["issuer"], dbs, google_client, verifier, publish)
                )
        return self._app(environ, start_response)
