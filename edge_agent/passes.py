"""Wallet passes at the store: recognise a customer from a scanned pass, keep the
centre's revocation list, spot copied codes, and issue / re-issue passes.

Identification by pass: verify the signed code (public keys only) -> revocation list ->
`passes` table -> customer, and record `customer.identified` with method "pass". A plain
loyalty number is a look-up key (`edge_agent/customers.py`), never proof; a pass code is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlite_utils import Database

from edge_agent.context import AgentContext
from edge_agent.customers import Channel, customer_profile, record_identification
from edge_agent.domain import CustomerProfile
from edge_agent.errors import CustomerNotFound
from edge_agent.outbox import append_event
from sync.protocol.clock import to_iso
from wallet.apple import registry
from wallet.codes import PassClaims, PassKind, PassVerifier
from wallet.content import LoyaltyCard
from wallet.errors import PassRefused, RevokedPass, StaleRotatingCode, WalletError
from wallet.google.objects import loyalty_points, tier_module
from wallet.google.save import SaveLink
from wallet.issuer import PassIssuer, new_auth_token, new_serial
from wallet.notify_budget import notifications_left, record_notification
from wallet.rotating import pass_totp_secret, split_rotating, totp_is_current

if TYPE_CHECKING:  # the Google REST client (google-auth's requests transport) costs ~75 ms
    from wallet.google.client import GoogleWalletClient  # to import; only re-issue uses it

# Only a loyalty pass says who the customer is; a coupon or pickup code proves something else.
IDENTIFYING_KINDS: tuple[PassKind, ...] = ("loyalty",)


class PassNotFound(CustomerNotFound):
    code = "pass_not_found"


class PassesNotConfigured(PassRefused):
    code = "passes_not_configured"
    http_status = 503


@dataclass(frozen=True)
class IssuedPass:
    serial: str
    code: str
    pkpass: bytes | None = None
    google_link: SaveLink | None = None


def identify_by_pass(
    ctx: AgentContext,
    verifier: PassVerifier | None,
    scanned: str,
    *,
    channel: Channel,
    source: str,
    till_id: str | None = None,
    rotating_secret: bytes | None = None,
) -> CustomerProfile:
    """The customer whose genuine, current pass was scanned; else a named `PassRefused`.

    A refusal is reported to the centre (`pass.refused`) so forgeries can be counted.
    """
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
        row = ctx.store.db.execute(
            "SELECT customer_id, status, platform FROM passes WHERE serial = ?",
            [claims.reference],
        ).fetchone()
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


def issue_loyalty_pass(
    ctx: AgentContext, issuer: PassIssuer, customer_id: str, *, apple: bool, google: bool
) -> IssuedPass:
    """A new loyalty pass for the customer, recorded in `passes` (and the Apple registry)."""
    if apple == google:
        raise WalletError("issue one pass per platform: choose Apple or Google")
    now = ctx.clock()
    profile = customer_profile(ctx, customer_id)
    serial = new_serial("loyalty")
    card = _card(profile, serial, issuer.code("loyalty", serial, now))
    pkpass = link = None
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO passes (serial, customer_id, kind, platform, status, issued_at)"
            " VALUES (?, ?, 'loyalty', ?, 'active', ?)",
            [serial, customer_id, "apple" if apple else "google", to_iso(now)],
        )
        if apple:
            token = new_auth_token()
            pkpass = issuer.apple_pass(card, token)
            assert issuer.apple is not None
            registry.save_pass(
                ctx.store,
                serial=serial,
                pass_type_id=issuer.apple.settings.pass_type_id,
                auth_token=token,
                pkpass=pkpass,
                at=now,
            )
        else:
            link = issuer.google_save_link(card, now)
    return IssuedPass(serial, card.code, pkpass, link)


def reissue_loyalty_passes(
    ctx: AgentContext,
    issuer: PassIssuer,
    customer_id: str,
    google_client: GoogleWalletClient | None = None,
) -> list[str]:
    """After points or tier changed: re-issue the customer's Apple passes (Wallet shows
    the changeMessage, devices get an APNs push) and update the Google objects
    (notifying while within Google's 3-per-day budget). Returns the serials updated."""
    now = ctx.clock()
    profile = customer_profile(ctx, customer_id)
    rows = ctx.store.db.execute(
        "SELECT p.serial, p.platform, p.issued_at, a.auth_token FROM passes p"
        " LEFT JOIN apple_passes a ON a.serial = p.serial"
        " WHERE p.customer_id = ? AND p.kind = 'loyalty' AND p.status = 'active'",
        [customer_id],
    ).fetchall()
    updated = []
    for serial, platform, _issued, token in rows:
        if platform == "apple" and token and issuer.apple is not None:
            card = _card(profile, serial, issuer.code("loyalty", serial, now))
            with ctx.store.transaction() as db:
                registry.save_pass(
                    ctx.store,
                    serial=serial,
                    pass_type_id=issuer.apple.settings.pass_type_id,
                    auth_token=token,
                    pkpass=issuer.apple_pass(card, token),
                    at=now,
                )
                _reissued_event(ctx, db, serial, customer_id, "apple", True, now)
            updated.append(serial)
        elif platform == "google" and google_client is not None and issuer.google is not None:
            notify = notifications_left(ctx.store, serial, "google", now) > 0
            settings = issuer.google.settings
            changes: dict[str, object] = {"loyaltyPoints": loyalty_points(settings, profile.points)}
            if profile.tier:
                changes["textModulesData"] = [tier_module(settings, profile.tier)]
            google_client.patch_object(settings.object_id(serial), changes, notify=notify)
            if notify:
                record_notification(ctx.store, serial, "google", now)
            with ctx.store.transaction() as db:
                _reissued_event(ctx, db, serial, customer_id, "google", notify, now)
            updated.append(serial)
    return updated


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


def _reissued_event(
    ctx: AgentContext,
    db: Database,
    serial: str,
    customer_id: str,
    platform: str,
    notified: bool,
    at: datetime,
) -> None:
    append_event(
        db,
        ctx.origin,
        "pass.reissued",
        subject=customer_id,
        data={"pass_serial": serial, "platform": platform, "notified": notified},
        at=at,
    )


def _card(profile: CustomerProfile, serial: str, code: str) -> LoyaltyCard:
    return LoyaltyCard(
        serial=serial,
        code=code,
        member_name=f"{profile.first_name} {profile.last_name}",
        member_number=profile.loyalty_id,
        tier=profile.tier,
        points=profile.points,
    )
