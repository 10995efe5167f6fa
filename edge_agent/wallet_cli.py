"""`edge-agent wallet ...`: keys, issuing and checking passes.

Part of the composition: the wallet (a leaf) meets the agent's config and database here.
Imports sit inside the commands so `edge-agent --help` does not load the wallet's
signing and push clients.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from sync.protocol.clock import to_iso, utc_now
from wallet.errors import PassRefused

DEFAULT_KEYS_DIR = Path("wallet-keys")


@click.group()
def wallet() -> None:
    """Issue and check wallet passes (Apple Wallet, Google Wallet, signed pass codes)."""


@wallet.command("keys")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: wallet.keys_dir, else ./wallet-keys).",
)
@click.option("--key-id", type=click.IntRange(0, 255), default=1, show_default=True)
@click.option(
    "--dev-certs/--no-dev-certs",
    default=True,
    show_default=True,
    help="Also write throw-away Apple/Google test credentials (never for production).",
)
@click.pass_context
def keys(ctx: click.Context, directory: Path | None, key_id: int, dev_certs: bool) -> None:
    """Generate a pass-signing key pair (and development certificates)."""
    from edge_agent.config import load_config
    from wallet.keys import write_secret, write_signing_key

    config = load_config(ctx.find_root().obj)
    directory = directory or config.wallet.keys_dir or DEFAULT_KEYS_DIR
    write_signing_key(directory, key_id)
    click.echo(f"{directory}/pass-signing-{key_id}.key  (centre only, keep secret)")
    click.echo(f"{directory}/pass-signing-{key_id}.pub  (copy to every store)")
    if not dev_certs:
        return
    import secrets

    from wallet.devcerts import (
        make_apns_key,
        make_apple_credentials,
        make_service_account,
        service_account_json,
    )

    apple = make_apple_credentials(config.wallet.apple_pass_type_id, config.wallet.apple_team_id)
    (directory / "dev-wwdr.pem").write_bytes(apple.wwdr_cert_pem)
    (directory / "dev-pass-cert.pem").write_bytes(apple.pass_cert_pem)
    write_secret(directory / "dev-pass-key.pem", apple.pass_key_pem)
    write_secret(directory / "dev-apns-key.p8", make_apns_key())
    write_secret(directory / "dev-rotating.secret", secrets.token_hex(32).encode())
    info, cert = make_service_account("https://oauth2.googleapis.com/token")
    write_secret(directory / "dev-service-account.json", service_account_json(info).encode())
    (directory / "dev-service-account.pem").write_bytes(cert)
    click.echo(
        "development credentials (NOT Apple's or Google's) written; in [wallet] set:\n"
        f'  keys_dir = "{directory}"\n'
        f'  apple_cert_file = "{directory}/dev-pass-cert.pem"\n'
        f'  apple_key_file = "{directory}/dev-pass-key.pem"\n'
        f'  apple_wwdr_file = "{directory}/dev-wwdr.pem"\n'
        f'  rotating_secret_file = "{directory}/dev-rotating.secret"\n'
        f'  google_service_account_file = "{directory}/dev-service-account.json"'
    )


@wallet.command("issue")
@click.option("--customer", "customer_id", required=True, help="Customer id, e.g. C00000003.")
@click.option(
    "--apple",
    "apple_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write an Apple Wallet loyalty pass (.pkpass) here.",
)
@click.option("--google", is_flag=True, help="Print a Save to Google Wallet link.")
@click.pass_context
def issue(ctx: click.Context, customer_id: str, apple_out: Path | None, google: bool) -> None:
    """Issue a loyalty pass for a customer (needs the private signing key)."""
    from edge_agent.config import load_config
    from edge_agent.context import open_agent
    from edge_agent.passes import issue_loyalty_pass
    from edge_agent.wallet_setup import load_pass_issuer

    if (apple_out is None) == (not google):
        raise click.UsageError("give --apple FILE or --google (one pass per platform)")
    config = load_config(ctx.find_root().obj)
    issuer = load_pass_issuer(config)
    agent = open_agent(config)
    try:
        issued = issue_loyalty_pass(
            agent, issuer, customer_id, apple=apple_out is not None, google=google
        )
    finally:
        agent.store.close()
    result: dict[str, Any] = {"serial": issued.serial, "code": issued.code}
    if apple_out is not None and issued.pkpass is not None:
        apple_out.write_bytes(issued.pkpass)
        result["apple_pkpass"] = str(apple_out)
    if issued.google_link is not None:
        result["google_save_url"] = issued.google_link.url
        result["google_requires_insert"] = issued.google_link.requires_insert
    click.echo(json.dumps(result, indent=2))


@wallet.command("verify")
@click.argument("code")
@click.pass_context
def verify(ctx: click.Context, code: str) -> None:
    """Check a scanned pass code with the public keys (exit 1 and the reason if refused)."""
    from edge_agent.config import load_config
    from edge_agent.errors import ConfigError
    from edge_agent.store import Store
    from edge_agent.wallet_setup import load_pass_verifier

    config = load_config(ctx.find_root().obj)
    verifier = load_pass_verifier(config)
    if verifier is None:
        raise ConfigError("wallet.keys_dir: not set, so no pass code can be checked")
    revoked: set[str] = set()
    if config.paths.database.exists():
        store = Store.open(config.paths.database)
        try:
            revoked = {r[0] for r in store.db.execute("SELECT serial FROM pass_revocations")}
        finally:
            store.close()
    try:
        claims = verifier.verify(code, now=utc_now(), revoked=revoked)
    except PassRefused as exc:
        click.echo(json.dumps({"valid": False, "code": exc.code, "message": exc.message}))
        sys.exit(1)
    click.echo(
        json.dumps(
            {
                "valid": True,
                "kind": claims.kind,
                "reference": claims.reference,
                "key_id": claims.key_id,
                "issued_at": to_iso(claims.issued_at),
                "expires_at": to_iso(claims.expires_at) if claims.expires_at else None,
            }
        )
    )


@wallet.command("push")
@click.option("--limit", type=click.IntRange(1, 10_000), default=500, show_default=True)
@click.pass_context
def push(ctx: click.Context, limit: int) -> None:
    """Send the queued APNs pushes for updated Apple passes (once, then exit)."""
    from edge_agent.config import load_config
    from edge_agent.errors import ConfigError
    from edge_agent.store import Store
    from wallet.apple.apns import ApnsSender, ApnsSettings, drain_push_queue

    config = load_config(ctx.find_root().obj)
    settings = config.wallet
    if settings.apns_key_file is None:
        raise ConfigError("wallet.apns_key_file: not set, so no push can be sent")
    try:
        key = settings.apns_key_file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"wallet.apns_key_file: {settings.apns_key_file}: {exc.strerror}"
        ) from None
    sender = ApnsSender(
        ApnsSettings(settings.apple_team_id, settings.apns_key_id, key, settings.apns_url)
    )
    store = Store.open(config.paths.database)
    try:
        report = drain_push_queue(store, sender, limit)
    finally:
        sender.close()
        store.close()
    click.echo(
        f"pushes delivered {report.delivered}, devices gone (410) {report.unregistered}, "
        f"failed and kept for a retry {report.failed}"
    )
