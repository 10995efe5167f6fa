"""`edge-agent wallet ...`: checking pass codes at the store (passes are issued at the
centre: `edge-central wallet`).

Part of the composition: the wallet (a leaf) meets the agent's config and database here.
Imports sit inside the commands so `edge-agent --help` does not load the wallet's
signing and push clients.
"""

from __future__ import annotations

import json
import sys

import click

from sync.protocol.clock import to_iso, utc_now
from wallet.errors import PassRefused


@click.group()
def wallet() -> None:
    """Check wallet pass codes with the centre's public keys (issuing is the centre's:
    `edge-central wallet`)."""


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
