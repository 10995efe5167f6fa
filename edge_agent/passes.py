"""Wallet passes at the store: recognise a customer from a scanned pass, keep the
centre's revocation list, spot copied codes. Passes are issued and updated at the centre
only (`sync.central.wallet`); a store holds public keys and the centre's serial ->
customer records (`edge_agent.centre_passes`).

Identification by pass: verify the signed code (public keys only) -> revocation list ->
`passes` table -> customer, and record `customer.identified` with method "pass". A plain
loyalty number is a look-up key (`edge_agent/customers.py`), never proof; a pass code is.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlite_utils import Database

from edge_agent.centre import CentreLookup, why_not_here
from edge_agent.context import AgentContext
from edge_agent.customers import Channel, customer_profile, record_identification
from edge_agent.domain import CustomerProfile
from edge_agent.errors import CustomerNotFound
from edge_agent.orders import lookup_budget
from edge_agent.outbox import append_event
from sync.protocol.clock import to_iso
from wallet.codes import PassClaims, PassKind, PassVerifier
from wallet.errors import PassRefused, RevokedPass, StaleRotatingCode
from wallet.rotating import pass_totp_secret, split_rotating, totp_is_current

# Only a loyalty pass says who the customer is; a coupon or pickup code proves something else.
IDENTIFYING_KINDS: tuple[PassKind, ...] = ("loyalty",)


class PassNotFound(CustomerNotFound):
    code = "pass_not_found"


class PassesNotConfigured(PassRefused):
    code = "passes_not_configured"
    http_status = 503


def identify_by_pass(
    ctx: AgentContext,
    verifier: PassVerifier | None,
    scanned: str,
    *,
    channel: Channel,
    source: str,
    till_id: str | None = None,
    rotating_secret: bytes | None = None,
    centre: CentreLookup | None = None,
) -> CustomerProfile:
    """The customer whose genuine, current pass was scanned; else a named `PassRefused`.

    A genuine pass this store has not heard of (issued at the centre to a customer never
    seen here) is asked of the centre within the look-up deadline, when one is given.
    A refusal is reported to the centre (`pass.refused`) so forgeries can be counted.
    """
    started = time.monotonic()
    if verifier is None or not verifier.key_ids:
        raise PassesNotConfigured(
            "this store cannot check wallet passes yet (no pass keys installed in "
            "wallet.keys_dir or received from the centre); type the loyalty number instead"
        )
    now = ctx.clock()
    rotating = split_rotating(scanned)
    code = rotating.code if rotating else scanned.strip()
    try:
        claims = verifier.verify(
            code, now=now, kinds=IDENTIFYING_KINDS, revoked=_RevokedSerials(ctx)
        )
        row = _pass_row(ctx, claims.reference)
        if (row is None or row[0] is None) and centre is not None:
            answer = centre.fetch_customer_by_pass(claims.reference, lookup_budget(ctx, started))
            row = _pass_row(ctx, claims.reference)
            if row is None or row[0] is None:
                raise PassNotFound(
                    f"this pass is genuine but not known here {why_not_here(answer)}"
                )
        if row is None or row[0] is None:
            raise PassNotFound(
                "this pass is genuine but not in this store's cache yet; "
                "type the loyalty number instead"
            )
        customer_id, status, platform = row
        if status == "revoked":
            raise RevokedPass()
        if platform == "google" and rotating_secret is not None:
            _check_rotating(rotating_secret, claims, rotating.otp if rotating else None, now)
    except PassRefused as exc:
        _record_refusal(ctx, exc, source, till_id, now)
        raise
    with ctx.store.transaction() as db:
        if rotating is None:  # rotating codes cannot be replayed; static ones can
            _record_sighting(ctx, db, claims.reference, ctx.config.store.id, now)
        record_identification(ctx, db, customer_id, "pass", channel, source, till_id, now,
                              pass_serial=claims.reference)  # fmt: skip
    ctx.metrics.identifications.labels("pass", channel).inc()
    return customer_profile(ctx, customer_id)


def _pass_row(ctx: AgentContext, serial: str) -> tuple[str | None, str, str] | None:
    return ctx.store.db.execute(
        "SELECT customer_id, status, platform FROM passes WHERE serial = ?", [serial]
    ).fetchone()


class _RevokedSerials:
    """`serial in revoked` answered by the local copy of the centre's revocation list."""

    def __init__(self, ctx: AgentContext) -> None:
        self._db = ctx.store.db

    def __contains__(self, serial: object) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM pass_revocations WHERE serial = ?", [serial]
        ).fetchone()
        return row is not None


def _check_rotating(secret: bytes, claims: PassClaims, otp: str | None, now: datetime) -> None:
    if otp is None:
        raise StaleRotatingCode(
            "this pass shows a rotating code, and this one does not move (a printout or "
            "screenshot?); ask the customer to open the pass in Google Wallet"
        )
    if not totp_is_current(pass_totp_secret(secret, claims.reference), otp, now):
        raise StaleRotatingCode()


def _record_sighting(
    ctx: AgentContext, db: Database, serial: str, store_id: str, at: datetime
) -> bool:
    window = timedelta(minutes=ctx.config.wallet.copy_window_minutes)
    # Older sightings can no longer reveal a copy; dropping them keeps the table small.
    db.execute(
        "DELETE FROM pass_sightings WHERE serial = ? AND seen_at < ?",
        [serial, to_iso(at - window)],
    )
    db.execute(
        "INSERT INTO pass_sightings (serial, store_id, device_id, seen_at) VALUES (?, ?, ?, ?)",
        [serial, store_id, _device_if_here(ctx, store_id), to_iso(at)],
    )
    others = [
        row[0]
        for row in db.execute(
            "SELECT DISTINCT store_id FROM pass_sightings"
            " WHERE serial = ? AND store_id != ? AND seen_at BETWEEN ? AND ?",
            [serial, store_id, to_iso(at - window), to_iso(at + window)],
        )
    ]
    if others:
        append_event(
            db,
            ctx.origin,
            "pass.copy_suspected",
            subject=serial,
            data={
                "pass_serial": serial,
                "store_id": store_id,
                "other_store_ids": sorted(others),
                "seen_at": to_iso(at),
                "window_minutes": ctx.config.wallet.copy_window_minutes,
            },
            at=at,
        )
    return bool(others)


def _record_refusal(
    ctx: AgentContext, exc: PassRefused, source: str, till_id: str | None, at: datetime
) -> None:
    with ctx.store.transaction() as db:
        append_event(
            db,
            ctx.origin,
            "pass.refused",
            subject=None,
            data={"reason": exc.code, "source": source, "till_id": till_id},
            at=at,
        )


def _device_if_here(ctx: AgentContext, store_id: str) -> str | None:
    return ctx.config.device.id if store_id == ctx.config.store.id else None
