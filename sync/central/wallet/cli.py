"""`edge-central wallet ...`: issue passes at the centre, hand out customers' page links,
run the wallet service (PassKit web service, Google callbacks, re-issues and pushes)."""

from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from sync.central.db import CentralDb
from sync.central.options import db_option
from sync.protocol.clock import utc_now

_config_option = click.option(
    "--config",
    "config_path",
    envvar="EDGE_CENTRAL_WALLET_CONFIG",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The centre's wallet settings (TOML, a [wallet] table).",
)


@click.group()
def wallet() -> None:
    """Wallet passes issued and kept at the centre (Apple Wallet, Google Wallet)."""


@wallet.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--key-id",
    type=click.IntRange(0, 255),
    default=1,
    show_default=True,
    help="The key id (0-255) pass codes name; a new id for each new key.",
)
@click.option(
    "--dev-certs/--no-dev-certs",
    default=False,
    show_default=True,
    help="Also write throw-away Apple/Google credentials and a wallet.toml (never for production).",
)
def keys(directory: Path, key_id: int, dev_certs: bool) -> None:
    """Create a pass-signing key pair in DIRECTORY: the .key stays at the centre, the .pub
    goes to every store (or publish it with `edge-central keys`)."""
    import secrets

    from wallet.keys import write_secret, write_signing_key

    write_signing_key(directory, key_id)
    click.echo(f"{directory}/pass-signing-{key_id}.key  (the centre only; keep it secret)")
    click.echo(f"{directory}/pass-signing-{key_id}.pub  (every store)")
    if not dev_certs:
        return
    from wallet.devcerts import (
        make_apns_key,
        make_apple_credentials,
        make_service_account,
        service_account_json,
    )

    apple = make_apple_credentials("pass.com.example.edge-agent", "DEVTEAM001")
    (directory / "dev-wwdr.pem").write_bytes(apple.wwdr_cert_pem)
    (directory / "dev-pass-cert.pem").write_bytes(apple.pass_cert_pem)
    write_secret(directory / "dev-pass-key.pem", apple.pass_key_pem)
    write_secret(directory / "dev-apns-key.p8", make_apns_key())
    write_secret(directory / "dev-rotating.secret", secrets.token_hex(32).encode())
    info, cert = make_service_account("https://oauth2.googleapis.com/token")
    write_secret(directory / "dev-service-account.json", service_account_json(info).encode())
    (directory / "dev-service-account.pem").write_bytes(cert)
    (directory / "wallet.toml").write_text(
        "# Development settings (NOT Apple's or Google's credentials)\n[wallet]\n"
        f'keys_dir = "."\nsigning_key_id = {key_id}\n'
        'apple_cert_file = "dev-pass-cert.pem"\napple_key_file = "dev-pass-key.pem"\n'
        'apple_wwdr_file = "dev-wwdr.pem"\nrotating_secret_file = "dev-rotating.secret"\n'
        'google_issuer_id = "3388000000012345678"\n'
        'google_service_account_file = "dev-service-account.json"\n',
        encoding="utf-8",
    )
    click.echo(f"development credentials and {directory}/wallet.toml written")


@wallet.command()
@click.argument("customer_id")
@click.option(
    "--apple",
    "apple_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the customer's Apple .pkpass here.",
)
@click.option("--google", is_flag=True, help="Print the customer's Save to Google Wallet link.")
@_config_option
@db_option
def issue(
    customer_id: str, apple_out: Path | None, google: bool, config_path: Path, db_url: str
) -> None:
    """Issue (or hand out again) CUSTOMER_ID's loyalty pass; prints it as JSON."""
    from sync.central.wallet.passes import issue_loyalty_pass
    from sync.central.wallet.service import tell_stores
    from sync.central.wallet.settings import build_google_client, build_issuer, load_settings
    from wallet.errors import WalletError

    if (apple_out is None) == (not google):
        raise WalletError("choose one platform: --apple FILE or --google")
    settings = load_settings(config_path)
    issuer = build_issuer(settings)
    db = _open(db_url)
    try:
        issued = issue_loyalty_pass(
            db, issuer, customer_id, "apple" if apple_out else "google", utc_now(),
            build_google_client(settings, issuer) if google else None,
        )  # fmt: skip
        if issued.new:
            tell_stores(db, customer_id)  # goes out on each store's next feed check
    finally:
        db.close()
    if apple_out is not None and issued.pkpass is not None:
        apple_out.write_bytes(issued.pkpass)
    out = {"serial": issued.serial, "customer_id": customer_id, "code": issued.code,
           "platform": issued.platform, "new": issued.new}  # fmt: skip
    if issued.google_link is not None:
        out["google_save_url"] = issued.google_link.url
    click.echo(json.dumps(out, indent=2))


@wallet.command()
@click.argument("customer_id")
@click.option("--title", required=True, help='What the offer is ("-20 % en vestidos").')
@click.option("--terms", default="", help="The offer's conditions, shown on the back.")
@click.option(
    "--expires",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Last day (UTC) the coupon is valid; its signed code expires then too.",
)
@click.option(
    "--apple",
    "apple_out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the Apple .pkpass here.",
)
@_config_option
@db_option
def coupon(
    customer_id: str,
    title: str,
    terms: str,
    expires: datetime | None,
    apple_out: Path,
    config_path: Path,
    db_url: str,
) -> None:
    """Issue CUSTOMER_ID a coupon pass (Apple Wallet); prints it as JSON."""
    from sync.central.wallet.passes import issue_coupon_pass
    from sync.central.wallet.service import tell_stores
    from sync.central.wallet.settings import build_issuer, load_settings

    issuer = build_issuer(load_settings(config_path))
    expires_at = expires.replace(tzinfo=UTC) + timedelta(days=1) if expires else None
    db = _open(db_url)
    try:
        issued = issue_coupon_pass(
            db, issuer, customer_id, title=title, terms=terms, expires_at=expires_at,
            now=utc_now(),
        )  # fmt: skip
        tell_stores(db, customer_id)
    finally:
        db.close()
    if issued.pkpass is not None:
        apple_out.write_bytes(issued.pkpass)
    click.echo(json.dumps({"serial": issued.serial, "customer_id": customer_id,
                           "code": issued.code, "platform": "apple"}, indent=2))  # fmt: skip


@wallet.command()
@click.argument("customer_id")
@_config_option
@db_option
def link(customer_id: str, config_path: Path, db_url: str) -> None:
    """Print the URL of CUSTOMER_ID's "add to wallet" page, for an email or the web shop."""
    from sync.central.wallet.passes import customer_page_token
    from sync.central.wallet.settings import load_settings

    settings = load_settings(config_path)
    db = _open(db_url)
    try:
        token = customer_page_token(db, customer_id, utc_now())
    finally:
        db.close()
    click.echo(f"{settings.public_url.rstrip('/')}/wallet/c/{token}")


@wallet.command()
@_config_option
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8091, show_default=True, help="Port (0: any).")
@click.option(
    "--broker",
    "broker_url",
    envvar="EDGE_CENTRAL_BROKER",
    default="",
    help="Send pass news to stores at once (else on each store's next feed check).",
)
@click.option("--topic-prefix", default="retail/v1", show_default=True, help="MQTT topic prefix.")
def serve(
    config_path: Path, db_url: str, host: str, port: int, broker_url: str, topic_prefix: str
) -> None:
    """Run the wallet service until SIGTERM: the PassKit web service, Google callbacks,
    customers' pages, and the re-issues and APNs pushes that follow points changes. It
    prints `ready` (and tells systemd) once listening; if a thread dies it exits with 70."""
    from cheroot.wsgi import Server

    from sync.central.supervision import Part, Parts, log_thread_deaths, supervise
    from sync.central.systemd import Notifier
    from sync.central.wallet.registry import ThreadDb
    from sync.central.wallet.service import WalletUpdater
    from sync.central.wallet.settings import (
        build_apns,
        build_callback_verifier,
        build_google_client,
        build_issuer,
        load_settings,
    )
    from sync.central.wallet.web import WalletWeb, create_wallet_app

    settings = load_settings(config_path)
    issuer = build_issuer(settings)
    google = build_google_client(settings, issuer)
    _open(db_url).close()  # schema in place, and a clear error now if unreachable
    if google is not None and issuer.google is not None:
        from wallet.google.objects import loyalty_class

        # The class exists (fetched if so), with our callback URL for saves and deletes.
        google.insert_class(loyalty_class(issuer.google.settings, settings.callback_url))
    updater = WalletUpdater(db_url, issuer, build_apns(settings), google)
    publish, link_stop = _publisher(broker_url, topic_prefix)
    dbs = ThreadDb(db_url)
    app = create_wallet_app(
        WalletWeb(issuer, dbs, google, build_callback_verifier(settings), publish,
                  settings.language)
    )  # fmt: skip
    server = Server((host, port), app)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # Neither thread has a loop of ours that beats (a round of re-issues may wait on
    # Google for long): the watchdog sees them die, not stall.
    parts = Parts(Part("wallet-web", beats=False), Part("wallet-updates", beats=False))
    log_thread_deaths()
    updater.start()
    server.prepare()  # bound: devices' requests wait in the backlog from now on
    serving = threading.Thread(target=server.serve, name="wallet-web", daemon=True)
    serving.start()
    parts.watch("wallet-web", serving)
    parts.watch("wallet-updates", updater.thread)  # type: ignore[arg-type]
    parts["wallet-web"].ready.set()
    parts["wallet-updates"].ready.set()
    address = f"http://{host}:{server.bind_addr[1]}"
    click.echo(f"wallet service on {address}", err=True)

    def announce_ready() -> None:
        click.echo("ready")
        sys.stdout.flush()

    try:
        code = supervise(parts, stop, announce_ready, Notifier(), f"serving {address}")
    finally:
        server.stop()
        serving.join(10)
        updater.stop()
        dbs.close()
        link_stop()
    sys.exit(code)


@wallet.command()
@db_option
def status(db_url: str) -> None:
    """What the centre holds about passes, as JSON: passes by platform and state, how
    many are on a phone, queued APNs pushes, customers waiting for a re-issue."""
    from sync.central.wallet.push import queued_push_count
    from sync.central.wallet.updates import pending_count

    db = _open(db_url)
    try:
        passes: dict[str, dict[str, int]] = {}
        for platform, state, count in db.execute(
            "SELECT platform, status, COUNT(*) FROM wallet_passes GROUP BY platform, status"
        ).fetchall():
            passes.setdefault(platform, {})[state] = int(count)
        (apple_on_phone,) = db.execute(
            "SELECT COUNT(DISTINCT serial) FROM wallet_registrations"
        ).fetchone()
        (google_saved,) = db.execute(
            "SELECT COUNT(*) FROM wallet_passes WHERE google_state = 'saved'"
        ).fetchone()
        out = {
            "passes": passes,
            "on_phone": {"apple": int(apple_on_phone), "google": int(google_saved)},
            "queued_pushes": queued_push_count(db),
            "pending_reissues": pending_count(db),
        }
    finally:
        db.close()
    click.echo(json.dumps(out, indent=2))


@wallet.command()
@db_option
def conflicts(db_url: str) -> None:
    """Coupon and points conflicts found across stores (a coupon used more often than
    allowed, points spent twice while offline), newest first, as JSON."""
    from sync.central.wallet.loyalty import list_loyalty_conflicts

    db = _open(db_url)
    try:
        click.echo(json.dumps(list_loyalty_conflicts(db), indent=2))
    finally:
        db.close()


def _open(db_url: str) -> CentralDb:
    db = CentralDb(db_url)
    db.create_schema()
    return db


def _publisher(broker_url: str, prefix: str):  # type: ignore[no-untyped-def]
    if not broker_url:
        return None, lambda: None
    from sync.link import BrokerSettings, MqttLink
    from sync.protocol.topics import StoreTopics

    link = MqttLink(
        BrokerSettings(broker_url, client_id=f"edge-central-wallet-{socket.gethostname()}"),
        subscriptions=[],
        on_message=lambda _m: None,
    )
    link.start()

    def publish(store_id: str, payload: bytes) -> None:
        try:
            link.publish(StoreTopics(prefix, store_id).changes, payload)
        except Exception as exc:  # recorded in the feed: the store's replay brings it
            click.echo(f"edge-central: pass news for {store_id} not sent now ({exc})", err=True)

    return publish, link.stop
