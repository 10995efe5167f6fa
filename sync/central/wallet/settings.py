"""The centre's wallet settings: a TOML file (`edge-central wallet --config FILE`), every
key overridable by `EDGE_CENTRAL_WALLET_<KEY>`; a bad setting is refused at start with
the file, the key and the reason. Builds the issuer, the APNs sender, the Google client
and the Google callback verifier from it."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wallet.apple.pkpass import AppleSettings
from wallet.apple.signing import PassSigningIdentity
from wallet.codes import PassSigner
from wallet.errors import WalletError
from wallet.google.objects import GoogleSettings
from wallet.issuer import AppleIssuing, GoogleIssuing, PassIssuer
from wallet.keys import load_signing_key

if TYPE_CHECKING:
    from wallet.apple.apns import ApnsSender
    from wallet.google.callbacks import CallbackVerifier
    from wallet.google.client import GoogleWalletClient

ENV_PREFIX = "EDGE_CENTRAL_WALLET_"


class CentreWalletSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    organization_name: str = Field("Demo Store", min_length=1, max_length=64)
    language: str = Field("es", pattern=r"^[a-z]{2}$")
    # Where customers and devices reach the centre's wallet service: the page links,
    # Apple's webServiceURL (<public_url>/passkit) and Google's callback URL live there.
    public_url: str = Field("http://127.0.0.1:8091", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    keys_dir: Path  # pass-signing-<id>.key: the centre is the only holder
    signing_key_id: int = Field(1, ge=0, le=255)
    rotating_secret_file: Path | None = None
    apple_pass_type_id: str = Field("pass.com.example.edge-agent", pattern=r"^pass\.[\w.-]+$")
    apple_team_id: str = Field("DEVTEAM001", pattern=r"^[A-Z0-9]{10}$")
    apple_cert_file: Path | None = None
    apple_key_file: Path | None = None
    apple_wwdr_file: Path | None = None
    apns_key_file: Path | None = None
    apns_key_id: str = Field("", pattern=r"^([A-Z0-9]{10})?$")
    apns_url: str = Field("https://api.push.apple.com", pattern=r"^https://")
    apns_ca_file: Path | None = None  # only for a stand-in APNs with its own CA
    google_issuer_id: str = Field("", pattern=r"^(\d{6,25})?$")
    google_class_suffix: str = Field("loyalty", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    google_service_account_file: Path | None = None
    google_api_url: str = Field(
        "https://walletobjects.googleapis.com/walletobjects/v1", pattern=r"^https?://"
    )
    google_logo_url: str = "https://example.com/logo.png"
    google_origins: tuple[str, ...] = ()
    # Google's callback signing keys (the JSON at pay.google.com/gp/m/issuer/keys),
    # refreshed by ops; callbacks are refused while none are installed.
    google_callback_keys_file: Path | None = None

    @field_validator("google_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not origin.startswith(("https://", "http://")):
                raise ValueError(f"{origin!r} is not an http(s) origin")
        return value

    @property
    def web_service_url(self) -> str:
        return self.public_url.rstrip("/") + "/passkit"

    @property
    def callback_url(self) -> str:
        return self.public_url.rstrip("/") + "/wallet/google/callback"


def load_settings(path: Path, environ: dict[str, str] | None = None) -> CentreWalletSettings:
    environ = dict(os.environ) if environ is None else environ
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("wallet", {})
    except OSError as exc:
        raise WalletError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise WalletError(f"{path}: not TOML: {exc}") from None
    for name in CentreWalletSettings.model_fields:
        value = environ.get(ENV_PREFIX + name.upper())
        if value is not None:
            raw[name] = value.split(",") if name == "google_origins" else value
    try:
        settings = CentreWalletSettings.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise WalletError(f"{path}: wallet.{key}: {error['msg']}") from None
    base = path.parent
    return settings.model_copy(
        update={
            name: base / value
            for name, value in settings.model_dump().items()
            if isinstance(value, Path) and not value.is_absolute()
        }
    )


def build_issuer(settings: CentreWalletSettings) -> PassIssuer:
    signer = PassSigner(
        settings.signing_key_id, load_signing_key(settings.keys_dir, settings.signing_key_id)
    )
    apple = google = None
    files = (settings.apple_cert_file, settings.apple_key_file, settings.apple_wwdr_file)
    if all(files):
        identity = PassSigningIdentity.from_pem(*(_read(f) for f in files if f))
        apple = AppleIssuing(
            AppleSettings(
                pass_type_id=settings.apple_pass_type_id,
                team_id=settings.apple_team_id,
                organization_name=settings.organization_name,
                web_service_url=settings.web_service_url,
            ),
            identity,
        )
    if settings.google_issuer_id and settings.google_service_account_file:
        from google.oauth2 import service_account

        info = json.loads(_read(settings.google_service_account_file))
        google = GoogleIssuing(
            GoogleSettings(
                issuer_id=settings.google_issuer_id,
                class_suffix=settings.google_class_suffix,
                program_name=settings.organization_name,
                issuer_name=settings.organization_name,
                logo_url=settings.google_logo_url,
                language=settings.language,
            ),
            service_account.Credentials.from_service_account_info(info),
            settings.google_origins,
        )
    secret = _read(settings.rotating_secret_file).strip() if settings.rotating_secret_file else None
    return PassIssuer(signer, apple, google, secret)


def build_apns(settings: CentreWalletSettings) -> ApnsSender | None:
    if settings.apns_key_file is None:
        return None
    import ssl

    from wallet.apple.apns import ApnsSender, ApnsSettings

    verify: ssl.SSLContext | bool = True
    if settings.apns_ca_file is not None:
        verify = ssl.create_default_context(cafile=str(settings.apns_ca_file))
    return ApnsSender(
        ApnsSettings(
            settings.apple_team_id,
            settings.apns_key_id,
            _read(settings.apns_key_file),
            settings.apns_url,
        ),
        verify=verify,
    )


def build_google_client(
    settings: CentreWalletSettings, issuer: PassIssuer
) -> GoogleWalletClient | None:
    if issuer.google is None:
        return None
    from wallet.google.client import GoogleWalletClient

    return GoogleWalletClient(issuer.google.credentials, settings.google_api_url)


def build_callback_verifier(settings: CentreWalletSettings) -> CallbackVerifier | None:
    if settings.google_callback_keys_file is None or not settings.google_issuer_id:
        return None
    from wallet.google.callbacks import CallbackVerifier, parse_root_keys

    return CallbackVerifier(
        settings.google_issuer_id, parse_root_keys(_read(settings.google_callback_keys_file))
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise WalletError(f"{path}: {exc.strerror}") from None
