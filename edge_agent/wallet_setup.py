"""Wiring the wallet from the `[wallet]` config: the pass verifier (public keys), the
rotating-code secret, the issuer (private keys; centre or development machine) and the
APNs push worker. A bad setting is a `ConfigError` naming the key, raised at start-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.config import Config
from edge_agent.context import AgentContext
from edge_agent.errors import ConfigError
from edge_agent.pass_keys import installed_pass_keys
from wallet.apple.pkpass import AppleSettings
from wallet.apple.signing import PassSigningIdentity
from wallet.codes import PassSigner, PassVerifier
from wallet.google.objects import GoogleSettings
from wallet.issuer import AppleIssuing, GoogleIssuing, PassIssuer
from wallet.keys import load_signing_key

if TYPE_CHECKING:
    from wallet.apple.push_worker import PushWorker

# google-auth's service accounts and the HTTP/2 APNs client are imported only where a
# store is configured to use them: together they were ~100 ms of every agent start.


def load_pass_verifier(config: Config) -> PassVerifier | None:
    """The verifier with the public keys in `wallet.keys_dir`; None when none is set."""
    keys = installed_pass_keys(config)
    return None if keys is None else PassVerifier(keys)


def agent_pass_verifier(ctx: AgentContext) -> PassVerifier:
    """The running agent's verifier: installed keys and the centre's broadcast key set,
    following the key set as the centre changes it."""
    return PassVerifier(ctx.pass_keys)


def load_rotating_secret(config: Config) -> bytes | None:
    path = config.wallet.rotating_secret_file
    if path is None:
        return None
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"wallet.rotating_secret_file: {path}: {exc.strerror}") from None
    if len(secret) < 32:
        raise ConfigError(
            f"wallet.rotating_secret_file: {path} holds {len(secret)} bytes; use 32 or more"
        )
    return secret


def load_pass_issuer(config: Config) -> PassIssuer:
    """The issuer from the config: needs the private signing key (centre/dev machine)."""
    wallet = config.wallet
    if wallet.keys_dir is None:
        raise ConfigError("wallet.keys_dir: not set; create keys with `edge-agent wallet keys`")
    signer = PassSigner(
        wallet.signing_key_id, load_signing_key(wallet.keys_dir, wallet.signing_key_id)
    )
    apple = google = None
    if wallet.apple_cert_file and wallet.apple_key_file and wallet.apple_wwdr_file:
        identity = PassSigningIdentity.from_pem(
            _read(wallet.apple_cert_file, "apple_cert_file"),
            _read(wallet.apple_key_file, "apple_key_file"),
            _read(wallet.apple_wwdr_file, "apple_wwdr_file"),
        )
        apple = AppleIssuing(
            AppleSettings(
                pass_type_id=wallet.apple_pass_type_id,
                team_id=wallet.apple_team_id,
                organization_name=config.store.name,
                web_service_url=wallet.apple_web_service_url or None,
            ),
            identity,
        )
    if wallet.google_issuer_id and wallet.google_service_account_file:
        info = json.loads(_read(wallet.google_service_account_file, "google_service_account_file"))
        from google.oauth2 import service_account

        credentials = service_account.Credentials.from_service_account_info(info)
        google = GoogleIssuing(
            GoogleSettings(
                issuer_id=wallet.google_issuer_id,
                class_suffix=wallet.google_class_suffix,
                program_name=config.store.name,
                issuer_name=config.store.name,
                logo_url=wallet.google_logo_url,
                language=config.store.locale.split("_")[0],
            ),
            credentials,
            wallet.google_origins,
        )
    return PassIssuer(signer, apple, google, load_rotating_secret(config))


def load_push_worker(ctx: AgentContext) -> PushWorker | None:
    """The APNs push worker when `wallet.apns_key_file` is set (not started)."""
    wallet = ctx.config.wallet
    if wallet.apns_key_file is None:
        return None
    key = _read(wallet.apns_key_file, "apns_key_file")
    from wallet.apple.apns import ApnsSender, ApnsSettings
    from wallet.apple.push_worker import PushWorker

    sender = ApnsSender(
        ApnsSettings(wallet.apple_team_id, wallet.apns_key_id, key, wallet.apns_url)
    )
    return PushWorker(ctx.store, sender)


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"wallet.{key}: {path}: {exc.strerror}") from None
