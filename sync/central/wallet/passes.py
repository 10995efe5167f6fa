"""Passes at the centre: issued once per customer and platform, kept, re-issued.

The centre is the one place that signs pass codes (Ed25519) and .pkpass files; a store
holds public keys only and learns which serial belongs to which customer from its feed
(`pass.upserted`) or by asking (`sync.central.lookups`).

Everything here takes the caller's `CentralDb`; `issue_*` and `reissue_customer` commit
their own transactions. Calls to Google's API happen outside any transaction.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sync.central.db import CentralDb
from sync.protocol.clock import to_iso
from wallet.content import Coupon, LoyaltyCard
from wallet.errors import WalletError
from wallet.google.objects import loyalty_points, tier_module
from wallet.google.save import SaveLink, save_link
from wallet.issuer import PassIssuer, new_auth_token, new_serial

if TYPE_CHECKING:
    from wallet.google.client import GoogleWalletClient

log = logging.getLogger(__name__)

Platform = Literal["apple", "google"]
# Google lets a pass notify its holder at most this often (3 per pass per 24 hours).
GOOGLE_NOTIFY_LIMIT = 3
GOOGLE_NOTIFY_WINDOW = timedelta(hours=24)
TIER_ORDER = ("bronze", "silver", "gold", "platinum")


class CustomerUnknown(WalletError):
    code = "customer_not_found"
    http_status = 404


@dataclass(frozen=True)
class IssuedPass:
    serial: str
    customer_id: str
    platform: Platform
    code: str
    pkpass: bytes | None = None
    google_link: SaveLink | None = None
    new: bool = True  # False: the customer had this pass already; it is handed out again


@dataclass(frozen=True)
class Reissued:
    serial: str
    platform: Platform
    notified: bool
    pushes_queued: int = 0


def issue_loyalty_pass(
    db: CentralDb,
    issuer: PassIssuer,
    customer_id: str,
    platform: Platform,
    now: datetime,
    google_client: GoogleWalletClient | None = None,
) -> IssuedPass:
    """The customer's loyalty pass on `platform`: their active one if they have it (a
    second tap on the email link must not mint a second card), else a new one."""
    card_data = _customer_card_data(db, customer_id)
    existing = _active_pass(db, issuer, customer_id, platform, card_data, now)
    if existing is not None:
        return existing
    serial = new_serial("loyalty")
    code = issuer.code("loyalty", serial, now)
    card = _card(card_data, serial, code)
    pkpass = token = pass_type_id = None
    link = None
    if platform == "apple":
        if issuer.apple is None:
            raise WalletError("Apple passes are not set up at the centre (wallet.apple_* files)")
        token = new_auth_token()
        pass_type_id = issuer.apple.settings.pass_type_id
        pkpass = issuer.apple_pass(card, token)
    else:
        inserted = False
        if google_client is not None:
            # Inserted now, so later updates (PATCH) find it whether or not the
            # customer has saved it yet; the save link then only names it.
            google_client.insert_object(issuer.google_object(card))
            inserted = True
        link = _google_link(issuer, card, now, inserted=inserted)
    try:
        with db.transaction():
            tag = next_update_tag(db) if platform == "apple" else 0
            db.execute(
                "INSERT INTO wallet_passes (serial, customer_id, kind, platform, status, code,"
                " pass_type_id, auth_token, update_tag, pkpass, shown_points, shown_tier,"
                " issued_at, updated_at) VALUES (%s, %s, 'loyalty', %s, 'active', %s, %s, %s,"
                " %s, %s, %s, %s, %s, %s)",
                [serial, customer_id, platform, code, pass_type_id, token, tag, pkpass,
                 card.points, card.tier, to_iso(now), to_iso(now)],
            )  # fmt: skip
    except Exception as exc:
        # Another request issued the customer's card in the meantime: hand out that one.
        if not _is_unique_violation(exc):
            raise
        existing = _active_pass(db, issuer, customer_id, platform, card_data, now)
        if existing is None:
            raise
        return existing
    log.info("issued %s loyalty pass %s for customer %s", platform, serial, customer_id)
    return IssuedPass(serial, customer_id, platform, code, pkpass, link)


def issue_coupon_pass(
    db: CentralDb,
    issuer: PassIssuer,
    customer_id: str,
    *,
    title: str,
    terms: str,
    expires_at: datetime | None,
    now: datetime,
) -> IssuedPass:
    """A new Apple coupon pass for the customer: its code is a signed `coupon` code
    (with the coupon's expiry), so a till checks it offline like a loyalty card."""
    _customer_card_data(db, customer_id)
    apple = issuer.apple
    if apple is None:
        raise WalletError("Apple passes are not set up at the centre (wallet.apple_* files)")
    if not 0 < len(title) <= 80 or len(terms) > 2000:
        raise WalletError("a coupon needs a title of 1-80 characters and terms up to 2000")
    serial = new_serial("coupon")
    code = issuer.signer.sign("coupon", serial, now, expires_at)
    token = new_auth_token()
    pkpass = issuer.apple_pass(Coupon(serial, code, title, expires_at, terms), token)
    with db.transaction():
        db.execute(
            "INSERT INTO wallet_passes (serial, customer_id, kind, platform, status, code,"
            " pass_type_id, auth_token, update_tag, pkpass, issued_at, updated_at)"
            " VALUES (%s, %s, 'coupon', 'apple', 'active', %s, %s, %s, %s, %s, %s, %s)",
            [serial, customer_id, code, apple.settings.pass_type_id, token,
             next_update_tag(db), pkpass, to_iso(now), to_iso(now)],
        )  # fmt: skip
    log.info("issued coupon pass %s for customer %s", serial, customer_id)
    return IssuedPass(serial, customer_id, "apple", code, pkpass)


def _active_pass(
    db: CentralDb,
    issuer: PassIssuer,
    customer_id: str,
    platform: Platform,
    card_data: dict[str, Any],
    now: datetime,
) -> IssuedPass | None:
    row = db.execute(
        "SELECT serial, code, pkpass FROM wallet_passes WHERE customer_id = %s"
        " AND kind = 'loyalty' AND platform = %s AND status = 'active'"
        " ORDER BY issued_at DESC LIMIT 1",
        [customer_id, platform],
    ).fetchone()
    if row is None:
        return None
    serial, code, pkpass = row
    link = None
    if platform == "google":
        link = _google_link(issuer, _card(card_data, serial, code), now, inserted=True)
    return IssuedPass(serial, customer_id, platform, code,
                      bytes(pkpass) if pkpass else None, link, new=False)  # fmt: skip


def _is_unique_violation(exc: Exception) -> bool:
    # sqlite3.IntegrityError, or psycopg's UniqueViolation (not imported: SQLite centres
    # need not have psycopg).
    return isinstance(exc, sqlite3.IntegrityError) or type(exc).__name__ == "UniqueViolation"


def reissue_customer(
    db: CentralDb,
    issuer: PassIssuer,
    customer_id: str,
    now: datetime,
    *,
    tier_changed: bool,
    google_client: GoogleWalletClient | None = None,
) -> list[Reissued]:
    """Bring every active loyalty pass of the customer up to their points and tier:
    Apple passes are signed again and their devices' pushes queued; Google objects are
    patched, notifying only for a tier change within Google's budget. A pass already
    showing the current figures is left alone."""
    return reissue_customers(
        db, issuer, [(customer_id, tier_changed)], now, google_client=google_client
    )


def reissue_customers(
    db: CentralDb,
    issuer: PassIssuer,
    customers: list[tuple[str, bool]],
    now: datetime,
    *,
    google_client: GoogleWalletClient | None = None,
) -> list[Reissued]:
    """`reissue_customer` for many (customer id, tier changed): the Apple passes are all
    signed first, then written with their pushes in one transaction (a campaign pays
    one commit per round, not one per pass); Google calls happen outside it."""
    apple: list[tuple[str, str, bytes, LoyaltyCard, bool]] = []
    google: list[tuple[str, LoyaltyCard, bool]] = []
    ids = [customer_id for customer_id, _ in customers]
    cards = _customers_card_data(db, ids)
    rows = db.execute(
        "SELECT customer_id, serial, platform, code, auth_token, pass_type_id, shown_points,"
        f" shown_tier FROM wallet_passes WHERE customer_id IN ({_marks(ids)})"
        " AND kind = 'loyalty' AND status = 'active' ORDER BY customer_id, serial",
        ids,
    ).fetchall()
    tiers = dict(customers)
    for customer_id, serial, platform, code, token, pass_type_id, shown_pts, shown_tier in rows:
        data = cards[customer_id]
        if (shown_pts, shown_tier) == (data["points"], data["tier"]):
            continue
        card = _card(data, serial, code)
        tier_changed = tiers[customer_id]
        if platform == "apple" and issuer.apple is not None and token:
            apple.append((serial, pass_type_id, issuer.apple_pass(card, token), card,
                          tier_changed))  # fmt: skip
        elif platform == "google" and google_client is not None and issuer.google:
            google.append((serial, card, tier_changed))
    done: list[Reissued] = []
    if apple:
        with db.transaction():
            first_tag = next_update_tag(db, len(apple))
            db.executemany(
                "UPDATE wallet_passes SET pkpass = %s, update_tag = %s, shown_points = %s,"
                " shown_tier = %s, updated_at = %s WHERE serial = %s",
                [(pkpass, first_tag + n, card.points, card.tier, to_iso(now), serial)
                 for n, (serial, _t, pkpass, card, _c) in enumerate(apple)],
            )  # fmt: skip
            queued = queue_pushes_for(db, [(serial, ptype) for serial, ptype, *_ in apple], now)
            done += [Reissued(serial, "apple", tier_changed, queued.get(serial, 0))
                     for serial, _t, _p, _c, tier_changed in apple]  # fmt: skip
    for serial, card, tier_changed in google:
        assert google_client is not None and issuer.google is not None
        notify = tier_changed and google_notifications_left(db, serial, now) > 0
        settings = issuer.google.settings
        changes: dict[str, Any] = {"loyaltyPoints": loyalty_points(settings, card.points)}
        if card.tier:
            changes["textModulesData"] = [tier_module(settings, card.tier)]
        google_client.patch_object(settings.object_id(serial), changes, notify=notify)
        with db.transaction():
            if notify:
                db.execute(
                    "INSERT INTO wallet_notifications (serial, platform, sent_at)"
                    " VALUES (%s, 'google', %s)",
                    [serial, to_iso(now)],
                )
            db.execute(
                "UPDATE wallet_passes SET shown_points = %s, shown_tier = %s,"
                " updated_at = %s WHERE serial = %s",
                [card.points, card.tier, to_iso(now), serial],
            )
        done.append(Reissued(serial, "google", notify))
    return done


def google_notifications_left(db: CentralDb, serial: str, now: datetime) -> int:
    (sent,) = db.execute(
        "SELECT COUNT(*) FROM wallet_notifications WHERE serial = %s AND platform = 'google'"
        " AND sent_at > %s",
        [serial, to_iso(now - GOOGLE_NOTIFY_WINDOW)],
    ).fetchone()
    return max(0, GOOGLE_NOTIFY_LIMIT - int(sent))


def queue_pushes(db: CentralDb, serial: str, pass_type_id: str, now: datetime) -> int:
    """Inside the caller's transaction: one push per device holding the pass (a device
    with a push already waiting keeps one: on it, it asks what changed)."""
    return queue_pushes_for(db, [(serial, pass_type_id)], now).get(serial, 0)


def queue_pushes_for(db: CentralDb, passes: list[tuple[str, str]], now: datetime) -> dict[str, int]:
    """`queue_pushes` for many (serial, pass type id); returns pushes queued by serial."""
    serials = [serial for serial, _ in passes]
    wanted = set(passes)
    tokens = [
        (push_token, pass_type_id, serial)
        for push_token, pass_type_id, serial in db.execute(
            "SELECT push_token, pass_type_id, serial FROM wallet_registrations"
            f" WHERE serial IN ({_marks(serials)})",
            serials,
        ).fetchall()
        if (serial, pass_type_id) in wanted
    ]
    db.executemany(
        "INSERT INTO wallet_push_queue (push_token, pass_type_id, serial, queued_at)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (push_token, pass_type_id) DO UPDATE SET"
        " serial = excluded.serial, queued_at = excluded.queued_at, attempts = 0",
        [(token, ptype, serial, to_iso(now)) for token, ptype, serial in tokens],
    )
    counts: dict[str, int] = {}
    for _token, _ptype, serial in tokens:
        counts[serial] = counts.get(serial, 0) + 1
    return counts


def next_update_tag(db: CentralDb, count: int = 1) -> int:
    """Inside the caller's transaction: the first of `count` new update tags. The counter
    row stays locked until commit, so tags commit in the order they are handed out and a
    device asking "since N" never misses a pass committed later with a smaller tag."""
    row = db.execute(
        "UPDATE wallet_counters SET value = value + %s WHERE name = 'update_tag' RETURNING value",
        [count],
    ).fetchone()
    return int(row[0]) - count + 1


def customer_page_token(db: CentralDb, customer_id: str, now: datetime) -> str:
    """The unguessable token of the customer's "add to wallet" page (made once)."""
    _customer_card_data(db, customer_id)
    with db.transaction():
        db.execute(
            "INSERT INTO wallet_pages (customer_id, token, created_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (customer_id) DO NOTHING",
            [customer_id, secrets.token_urlsafe(24), to_iso(now)],
        )
    row = db.execute(
        "SELECT token FROM wallet_pages WHERE customer_id = %s", [customer_id]
    ).fetchone()
    return str(row[0])


def customer_for_page(db: CentralDb, token: str) -> str | None:
    if not token or len(token) > 64:
        return None
    row = db.execute("SELECT customer_id FROM wallet_pages WHERE token = %s", [token]).fetchone()
    return str(row[0]) if row else None


def customer_passes(db: CentralDb, customer_id: str) -> list[dict[str, Any]]:
    """The customer's passes as stores see them (`pass.upserted` data), with whether the
    pass is on a phone: an Apple device registered it, or Google said it was saved."""
    rows = db.execute(
        "SELECT p.serial, p.kind, p.platform, p.status, p.google_state,"
        " (SELECT COUNT(*) FROM wallet_registrations r WHERE r.serial = p.serial)"
        " FROM wallet_passes p WHERE p.customer_id = %s ORDER BY p.issued_at, p.serial",
        [customer_id],
    ).fetchall()
    return [
        {
            "serial": serial,
            "customer_id": customer_id,
            "kind": kind,
            "platform": platform,
            "status": status,
            "on_device": bool(devices) if platform == "apple" else google_state == "saved",
        }
        for serial, kind, platform, status, google_state, devices in rows
    ]


def pass_customer(db: CentralDb, serial: str) -> str | None:
    row = db.execute("SELECT customer_id FROM wallet_passes WHERE serial = %s", [serial]).fetchone()
    return str(row[0]) if row else None


def _customers_card_data(db: CentralDb, ids: list[str]) -> dict[str, dict[str, Any]]:
    rows = db.execute(
        "SELECT id, first_name, last_name, loyalty_id, tier, points FROM customers"
        f" WHERE id IN ({_marks(ids)})",
        ids,
    ).fetchall()
    found = {
        cid: {"name": f"{first} {last}", "loyalty_id": loyalty_id, "tier": tier,
              "points": int(points or 0)}
        for cid, first, last, loyalty_id, tier, points in rows
    }  # fmt: skip
    if missing := sorted(set(ids) - set(found)):
        raise CustomerUnknown(f"customer {missing[0]} is not in the centre's master data")
    return found


def _marks(values: list[Any]) -> str:
    return ", ".join(["%s"] * len(values)) or "NULL"


def _customer_card_data(db: CentralDb, customer_id: str) -> dict[str, Any]:
    row = db.execute(
        "SELECT first_name, last_name, loyalty_id, tier, points FROM customers WHERE id = %s",
        [customer_id],
    ).fetchone()
    if row is None:
        raise CustomerUnknown(f"customer {customer_id} is not in the centre's master data")
    first, last, loyalty_id, tier, points = row
    return {"name": f"{first} {last}", "loyalty_id": loyalty_id, "tier": tier,
            "points": int(points or 0)}  # fmt: skip


def _card(data: dict[str, Any], serial: str, code: str) -> LoyaltyCard:
    return LoyaltyCard(
        serial=serial,
        code=code,
        member_name=data["name"],
        member_number=data["loyalty_id"],
        tier=data["tier"],
        points=data["points"],
    )


def _google_link(issuer: PassIssuer, card: LoyaltyCard, now: datetime, inserted: bool) -> SaveLink:
    google = issuer.google
    if google is None:
        raise WalletError("Google passes are not set up at the centre (wallet.google_* settings)")
    obj = issuer.google_object(card)
    if inserted:
        obj = {"id": obj["id"], "classId": obj["classId"]}
    return save_link(google.credentials, obj, origins=google.origins, now=now)
