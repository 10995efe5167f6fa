"""Agent configuration: one TOML file, every key overridable by an environment variable.

`load_config(path)` returns a frozen, validated `Config` or raises `ConfigError` naming the
file (or variable), the key and what is allowed, so a wrong setting stops start-up.

Environment overrides use `EDGE_AGENT__<SECTION>__<KEY>` (double underscores because keys
themselves contain single ones), e.g. `EDGE_AGENT__WEB__PORT=8081`. List values take JSON.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.numbers import list_currencies
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from edge_agent.errors import ConfigError
from hardware.printers import check_printer_profile, check_printer_url
from hardware.scanners import check_scanner_url

CONFIG_ENV = "EDGE_AGENT_CONFIG"
ENV_PREFIX = "EDGE_AGENT__"
# Store ids end up in MQTT topics and ACL patterns, so no slashes, wildcards or spaces.
STORE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
SCANNER_SCHEMES = ("tcp", "serial", "hid")
PRINTER_SCHEMES = ("preview", "file", "tcp", "serial", "usb")
BROKER_SCHEMES = ("mqtt", "mqtts")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_S = TypeVar("_S", bound=_Section)


class StoreSettings(_Section):
    id: str = Field("demo-001", pattern=STORE_ID_PATTERN)
    name: str = Field("Demo Store", min_length=1, max_length=80)
    currency: str = "EUR"
    locale: str = "es_ES"
    timezone: str = "Europe/Madrid"

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, value: str) -> str:
        if value not in list_currencies():
            raise ValueError(f"'{value}' is not an ISO 4217 currency code (e.g. EUR, GBP, USD)")
        return value

    @field_validator("locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        try:
            Locale.parse(value)
        except (UnknownLocaleError, ValueError) as exc:
            raise ValueError(f"'{value}' is not a known locale (e.g. es_ES, en_GB)") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/Madrid)") from exc
        return value


class DeviceSettings(_Section):
    id: str = Field("till-1", pattern=STORE_ID_PATTERN)


class PathSettings(_Section):
    data_dir: Path = Path("var")

    @property
    def database(self) -> Path:
        return self.data_dir / "edge-agent.sqlite3"


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Threads that run requests; till screens' event streams have threads of their own.
    threads: int = Field(8, ge=1, le=64)
    # HTTPS with the store's certificate and key (PEM): set both to serve tablets and
    # kiosks on the LAN; a non-loopback host without them is served, with a warning.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    # A client has this long to send a request's line and headers, and again its body:
    # a slow client is dropped, never waited for on a request thread.
    header_timeout_seconds: float = Field(10.0, gt=0, le=300)
    body_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # Request line plus headers, and the body (chunked included); the largest real
    # request is a return of a few dozen lines.
    max_header_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024)
    max_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024)
    # Requests one client address may have running at once; 0: threads - 2, so one
    # client can never take every thread.
    max_requests_per_client: int = Field(0, ge=0, le=64)
    # /metrics and the detail of /healthz: from loopback always; from elsewhere only with
    # `Authorization: Bearer <ops_token>` (empty: loopback only). Set it through
    # EDGE_AGENT__WEB__OPS_TOKEN, never in the file.
    ops_token: str = ""

    @model_validator(mode="after")
    def _tls_pair(self) -> WebSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    @property
    def requests_per_client(self) -> int:
        return self.max_requests_per_client or max(1, self.threads - 2)


class ScannerSettings(_Section):
    id: str = Field(pattern=STORE_ID_PATTERN)
    url: str

    @field_validator("url")
    @classmethod
    def _supported_scheme(cls, value: str) -> str:
        _check_scheme(value, SCANNER_SCHEMES)
        check_scanner_url(value)  # options are checked at start, not at first scan
        return value


class PrinterSettings(_Section):
    id: str = Field(pattern=STORE_ID_PATTERN)
    url: str
    paper_width_mm: Literal[58, 80] = 80
    # python-escpos capability profile: code pages, columns, native QR support.
    profile: str = "TM-T88V"

    @field_validator("url")
    @classmethod
    def _supported_scheme(cls, value: str) -> str:
        _check_scheme(value, PRINTER_SCHEMES)
        check_printer_url(value)
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        check_printer_profile(value)
        return value


class SyncSettings(_Section):
    broker_url: str = ""  # empty: no broker, the agent runs offline and events queue
    topic_prefix: str = Field("retail/v1", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    # TLS (mqtts://): the CA that signed the broker's certificate, and this store's own
    # client certificate and key when the broker wants one. User and password go in the
    # URL (mqtts://user:pass@host), best set through EDGE_AGENT__SYNC__BROKER_URL.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    heartbeat_seconds: int = Field(30, ge=1, le=3600)
    # Events sent but not yet acknowledged by the centre (they travel in batches).
    max_in_flight: int = Field(20000, ge=1, le=100000)
    # /healthz says "degraded" when an event has waited this long for the centre: the
    # store still works, but ops should look at its link.
    degraded_after_minutes: int = Field(15, ge=1, le=7 * 24 * 60)
    # While connected, ask the centre for its feed head this often: a lost *last* change
    # (nothing after it to reveal the gap) is caught within this interval.
    feed_check_seconds: int = Field(300, ge=1, le=24 * 3600)
    # An order or customer missing from the cache is asked of the centre for at most this
    # long, counted from the start of the look-up: the till answers within 300 ms, and
    # the rest of the budget is for the HTTP round trip and caching what was found.
    lookup_timeout_ms: int = Field(250, ge=10, le=10000)

    @field_validator("broker_url")
    @classmethod
    def _supported_scheme(cls, value: str) -> str:
        if value:
            _check_scheme(value, BROKER_SCHEMES)
        return value


class ReturnSettings(_Section):
    window_days: int = Field(30, ge=0, le=3650)
    offline_refund_limit_minor: int = Field(15000, ge=0)
    # Above this a cashier needs a supervisor's PIN to confirm a refund.
    cashier_limit_minor: int = Field(20000, ge=0)


class RetentionSettings(_Section):
    """How long the device keeps what it no longer needs (bounded disk, less personal data)."""

    acked_events_days: int = Field(7, ge=0, le=3650)
    scan_log_days: int = Field(30, ge=1, le=3650)
    dead_letters_days: int = Field(30, ge=1, le=3650)
    print_jobs_days: int = Field(14, ge=1, le=3650)
    # A customer neither seen here nor updated by the centre for this long, with nothing
    # open, is dropped from the device (the centre still has them).
    customer_cache_days: int = Field(365, ge=1, le=3650)
    # An expired kiosk return slip still answers "expired" (not "unknown") this long.
    expired_return_slips_days: int = Field(7, ge=0, le=365)
    interval_minutes: int = Field(60, ge=1, le=1440)


class LoyaltySettings(_Section):
    # Loyalty cards are EAN-13s from the restricted-circulation range 2x, so a scanner
    # reads them like any product barcode; the pattern tells them apart.
    id_pattern: str = r"^29\d{11}$"
    # While the centre is unreachable a store cannot see redemptions at other stores;
    # it redeems at most this many coupons, spending at most this many points, that the
    # centre has not acknowledged yet (a double use is then a bounded, reported loss).
    offline_redemptions_max: int = Field(20, ge=0, le=10_000)
    offline_points_max: int = Field(5_000, ge=0, le=10_000_000)

    @field_validator("id_pattern")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        return _check_regex(value)


class OrderSettings(_Section):
    number_pattern: str = r"^W\d{9}$"

    @field_validator("number_pattern")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        return _check_regex(value)


class PrivacySettings(_Section):
    # Salt for the email/phone look-up hashes; shared with the centre so hashes match.
    # Empty: the agent generates one per device on first start (fine for a demo store).
    lookup_salt: str = ""


class WalletSettings(_Section):
    """What a store needs to check passes: public keys only. Passes are issued, re-issued
    and pushed at the centre (`edge-central wallet`, its own settings file)."""

    # Directory of pass-signing-<id>.pub (the centre's public keys; the centre also
    # broadcasts its key set). Empty: pass codes cannot be checked and are refused as such.
    keys_dir: Path | None = None
    # The same static pass seen at two stores within this many minutes is a copied code.
    copy_window_minutes: int = Field(30, ge=1, le=24 * 60)
    # Shared secret for Google rotating (TOTP) barcodes; empty: rotating codes not checked.
    rotating_secret_file: Path | None = None


class KioskSettings(_Section):
    """The self-service kiosk page and the staff console's screens."""

    # A kiosk left alone goes back to the start screen and forgets who was there.
    idle_timeout_seconds: int = Field(60, ge=1, le=3600)
    # How long a return slip printed or shown at the kiosk can be loaded at a till.
    return_request_hours: int = Field(48, ge=1, le=720)
    # Signs the screens' session cookie. Empty: generated once per device (agent_meta).
    session_secret: str = ""
    languages: tuple[str, ...] = ("es", "en")
    # A staff console left without a request this long signs itself out.
    console_idle_timeout_minutes: int = Field(15, ge=1, le=12 * 60)


class Config(_Section):
    store: StoreSettings = StoreSettings()
    device: DeviceSettings = DeviceSettings()
    paths: PathSettings = PathSettings()
    web: WebSettings = WebSettings()
    scanners: tuple[ScannerSettings, ...] = Field(
        default_factory=lambda: (ScannerSettings(id="dev-tcp", url="tcp://127.0.0.1:9300"),)
    )
    printers: tuple[PrinterSettings, ...] = Field(
        default_factory=lambda: (PrinterSettings(id="receipt", url="preview://var/preview"),)
    )
    sync: SyncSettings = SyncSettings()
    returns: ReturnSettings = ReturnSettings()
    retention: RetentionSettings = RetentionSettings()
    loyalty: LoyaltySettings = LoyaltySettings()
    orders: OrderSettings = OrderSettings()
    privacy: PrivacySettings = PrivacySettings()
    wallet: WalletSettings = WalletSettings()
    kiosk: KioskSettings = KioskSettings()

    @field_validator("scanners", "printers")
    @classmethod
    def _unique_ids(cls, devices: tuple[Any, ...]) -> tuple[Any, ...]:
        ids = [device.id for device in devices]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"device ids must be unique, repeated: {', '.join(duplicates)}")
        return devices


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Config:
    """Read `path` (or $EDGE_AGENT_CONFIG, or nothing: all defaults), apply env overrides."""
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get(CONFIG_ENV) or None
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        raw = _read_toml(Path(path))
    overridden = _apply_env(raw, environ)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source, overridden)) from None
    if path is not None and not config.paths.data_dir.is_absolute():
        # A relative data_dir means "beside the config file", not "wherever I was started".
        base = Path(path).resolve().parent
        config = config.model_copy(
            update={"paths": PathSettings(data_dir=base / config.paths.data_dir)}
        )
    if path is not None:
        base = Path(path).resolve().parent
        config = config.model_copy(
            update={
                "wallet": _paths_beside(config.wallet, base),
                "sync": _paths_beside(config.sync, base),
                "web": _paths_beside(config.web, base),
            }
        )
    _check_tls_files(config.sync, source, overridden)
    _check_tls_files(config.web, source, overridden)
    return config


def _paths_beside(section: _S, base: Path) -> _S:
    """Relative key/certificate paths mean "beside the config file", like data_dir."""
    updates = {
        name: base / value
        for name, value in section
        if isinstance(value, Path) and not value.is_absolute()
    }
    return section.model_copy(update=updates) if updates else section


def _check_tls_files(
    section: SyncSettings | WebSettings, source: str, overridden: dict[str, str]
) -> None:
    """A TLS file that is not there would only fail at the first connection attempt, deep
    in a client's thread; refuse it at start, naming the key."""
    prefix = "sync" if isinstance(section, SyncSettings) else "web"
    for name, value in section:
        if name.endswith("_file") and value is not None and not value.is_file():
            origin = overridden.get(f"{prefix}.{name}", source)
            raise ConfigError(f"{origin}: {prefix}.{name}: no such file {str(value)!r}")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except PermissionError:
        raise ConfigError(f"{path}: config file is not readable (permission denied)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _apply_env(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, str]:
    """Overlay EDGE_AGENT__SECTION__KEY variables onto `raw`; return dotted key -> variable."""
    overridden: dict[str, str] = {}
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: '{part}' is not a section, it cannot hold keys")
            node = child
        node[parts[-1]] = _env_value(name, value)
        overridden[".".join(parts)] = name
    return overridden


def _env_value(name: str, value: str) -> Any:
    if value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{name}: looks like JSON but does not parse: {exc}") from None
    return value


def _explain(exc: ValidationError, source: str, overridden: dict[str, str]) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        origin = overridden.get(key, source)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling; see README 'Configuration')"
        elif "input" in error and not isinstance(error["input"], dict | list):
            message = f"{message} (got {error['input']!r})"
        lines.append(f"{origin}: {key}: {message}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def _check_scheme(url: str, allowed: tuple[str, ...]) -> None:
    scheme = urlsplit(url).scheme
    if scheme not in allowed:
        raise ValueError(
            f"'{url}' has scheme '{scheme or '(none)'}'; supported: "
            + ", ".join(f"{s}://" for s in allowed)
        )


def _check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value
