"""The centre owns each customer's loyalty balance: stores award and redeem on their own
(offline too) and report it; the centre counts every store's events into one balance,
tells the stores that know the customer (`loyalty.balance`), marks the customer's passes
for re-issue, and finds what no store could see alone: a coupon used more often than it
may be across stores, or points spent twice (`loyalty.conflict` to each store involved).

Runs inside the ingest transaction (`on_loyalty_events`), on events stored for the first
time only, so a resend changes nothing. Bad data is logged and skipped, never raised.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sync.central.changes import append_change
from sync.central.conflicts import StoreChange
from sync.central.db import CentralDb
from sync.central.wallet.passes import TIER_ORDER
from sync.central.wallet.updates import mark_changed
from sync.protocol.clock import to_iso
from sync.protocol.errors import ChangeRejected

log = logging.getLogger(__name__)

POINTS_CHANGED = "loyalty.points_changed"
TIER_CHANGED = "loyalty.tier_changed"
COUPON_REDEEMED = "coupon.redeemed"
LOYALTY_TYPES = frozenset({POINTS_CHANGED, TIER_CHANGED, COUPON_REDEEMED})
BALANCE_CHANGE = "loyalty.balance"
CONFLICT_CHANGE = "loyalty.conflict"
# A points conflict names the customer's spends this far back (the stores involved).
SPENDS_LOOKBACK = timedelta(days=7)


class LoyaltyEvent(Protocol):
    store_id: str
    source: str
    seq: int
    type: str
    time: str
    envelope: str


@dataclass
class _Customer:
    points: int
    lifetime: int
    tier: str | None
    stores: set[str] = field(default_factory=set)
    tier_changed: bool = False
    moved: bool = False
    overspent: list[dict[str, Any]] = field(default_factory=list)


def on_loyalty_events(
    db: CentralDb, events: Iterable[LoyaltyEvent], now: datetime
) -> list[StoreChange]:
    """Count newly stored loyalty events; returns the feed changes to publish after commit."""
    touched: dict[str, _Customer] = {}
    coupons: set[str] = set()
    for event in events:
        data = _data(event)
        customer_id = data.get("customer_id") if isinstance(data, dict) else None
        if event.type == COUPON_REDEEMED and _record_coupon_use(db, event, data):
            coupons.add(str(data["code"]).upper())
        if not isinstance(customer_id, str):
            continue
        customer = touched.get(customer_id) or _load(db, customer_id)
        if customer is None:
            continue  # not in the centre's master data: nothing to keep a balance of
        touched[customer_id] = customer
        customer.stores.add(event.store_id)
        _count(db, customer, customer_id, event, data)
    changes: list[StoreChange] = []
    for customer_id, customer in sorted(touched.items()):
        _save(db, customer_id, customer)
        if customer.moved or customer.tier_changed:
            if _has_passes(db, customer_id):
                mark_changed(db, customer_id, now, tier_changed=customer.tier_changed)
            changes += _tell_balance(db, customer_id, customer)
        if customer.overspent:
            changes += _points_conflict(db, customer_id, customer, now)
    for code in sorted(coupons):
        changes += _coupon_conflict(db, code, now)
    return changes


def counted_through(db: CentralDb, customer_id: str, store_id: str) -> dict[str, int]:
    """The newest event of each of the store's devices counted into the balance."""
    rows = db.execute(
        "SELECT source, seq FROM loyalty_counted WHERE customer_id = %s AND source LIKE %s",
        [customer_id, f"/stores/{store_id}/devices/%"],
    ).fetchall()
    return {str(source): int(seq) for source, seq in rows}


def balance_data(db: CentralDb, customer_id: str, store_id: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT tier, points, lifetime_points FROM customers WHERE id = %s", [customer_id]
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return {
        "customer_id": customer_id,
        "tier": row[0],
        "points": int(row[1] or 0),
        "lifetime_points": int(row[2] or 0),
        "counted_through": counted_through(db, customer_id, store_id),
    }


def list_loyalty_conflicts(db: CentralDb) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT conflict_id, kind, subject, customer_id, stores, detail, detected_at,"
        " updated_at FROM loyalty_conflicts ORDER BY updated_at DESC, conflict_id"
    ).fetchall()
    return [
        {"conflict_id": cid, "kind": kind, "subject": subject, "customer_id": customer,
         "stores": json.loads(stores), "detail": json.loads(detail),
         "detected_at": detected, "updated_at": updated}
        for cid, kind, subject, customer, stores, detail, detected, updated in rows
    ]  # fmt: skip


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _PointsChanged(_Lenient):
    customer_id: str = Field(min_length=1, max_length=64)
    delta: int


class _TierChanged(_Lenient):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    customer_id: str = Field(min_length=1, max_length=64)
    to_tier: str = Field(alias="to")


class _CouponRedeemed(_Lenient):
    code: str = Field(min_length=1, max_length=64)
    customer_id: str | None = None
    sale_reference: str = Field(min_length=1, max_length=64)
    points_spent: int | None = Field(None, ge=0)
    max_redemptions: int | None = Field(None, ge=1)


def _data(event: LoyaltyEvent) -> Any:
    try:
        return json.loads(event.envelope).get("data")
    except (ValueError, AttributeError):
        return None


def _load(db: CentralDb, customer_id: str) -> _Customer | None:
    lock = " FOR UPDATE" if db.postgres else ""
    row = db.execute(
        f"SELECT points, lifetime_points, tier FROM customers WHERE id = %s{lock}", [customer_id]
    ).fetchone()
    if row is None:
        return None
    return _Customer(int(row[0] or 0), int(row[1] or 0), row[2])


def _count(
    db: CentralDb, customer: _Customer, customer_id: str, event: LoyaltyEvent, data: Any
) -> None:
    try:
        if event.type == POINTS_CHANGED:
            award = _PointsChanged.model_validate(data)
            customer.points += award.delta
            customer.lifetime += max(award.delta, 0)
            customer.moved = customer.moved or award.delta != 0
        elif event.type == TIER_CHANGED:
            tier = _TierChanged.model_validate(data).to_tier
            if tier in TIER_ORDER and _rank(tier) > _rank(customer.tier):
                customer.tier = tier
                customer.tier_changed = True
        elif event.type == COUPON_REDEEMED:
            spent = _CouponRedeemed.model_validate(data).points_spent or 0
            if spent:
                customer.points -= spent
                customer.moved = True
                if customer.points < 0:
                    customer.overspent.append(
                        {"store_id": event.store_id, "points_spent": spent,
                         "short_by": -customer.points, "at": event.time}
                    )  # fmt: skip
    except ValidationError as exc:
        log.warning("%s from %s not counted: %s", event.type, event.store_id, exc)
        return
    db.execute(
        "INSERT INTO loyalty_counted (customer_id, source, seq) VALUES (%s, %s, %s)"
        " ON CONFLICT (customer_id, source) DO UPDATE SET seq = CASE"
        " WHEN excluded.seq > loyalty_counted.seq THEN excluded.seq ELSE loyalty_counted.seq END",
        [customer_id, event.source, event.seq],
    )


def _save(db: CentralDb, customer_id: str, customer: _Customer) -> None:
    # A balance below zero is the conflict reported; the balance itself stays at zero.
    customer.points = max(customer.points, 0)
    db.execute(
        "UPDATE customers SET points = %s, lifetime_points = %s, tier = %s WHERE id = %s",
        [customer.points, customer.lifetime, customer.tier or "bronze", customer_id],
    )
    customer.tier = customer.tier or "bronze"


def _has_passes(db: CentralDb, customer_id: str) -> bool:
    row = db.execute(
        "SELECT 1 FROM wallet_passes WHERE customer_id = %s AND status = 'active' LIMIT 1",
        [customer_id],
    ).fetchone()
    return row is not None


def _tell_balance(db: CentralDb, customer_id: str, customer: _Customer) -> list[StoreChange]:
    stores = customer.stores | {
        r[0]
        for r in db.execute(
            "SELECT store_id FROM customer_stores WHERE customer_id = %s", [customer_id]
        ).fetchall()
    }
    changes = []
    for store_id in sorted(stores):
        data = balance_data(db, customer_id, store_id)
        if data is not None:
            changes.append(_append(db, store_id, BALANCE_CHANGE, data))
    return [c for c in changes if c is not None]


def _record_coupon_use(db: CentralDb, event: LoyaltyEvent, data: Any) -> bool:
    try:
        use = _CouponRedeemed.model_validate(data)
    except ValidationError as exc:
        log.warning("coupon use from %s not recorded: %s", event.store_id, exc)
        return False
    db.execute(
        "INSERT INTO coupon_uses (code, sale_reference, store_id, customer_id, points_spent,"
        " max_redemptions, redeemed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (code, sale_reference) DO NOTHING",
        [use.code.upper(), use.sale_reference, event.store_id, use.customer_id,
         use.points_spent or 0, use.max_redemptions, event.time],
    )  # fmt: skip
    return True


def _coupon_conflict(db: CentralDb, code: str, now: datetime) -> list[StoreChange]:
    """A coupon used more often than allowed; judged only when a store said how often it
    may be used (an older agent's events do not say), never guessed."""
    uses = db.execute(
        "SELECT store_id, sale_reference, customer_id, points_spent, max_redemptions,"
        " redeemed_at FROM coupon_uses WHERE code = %s ORDER BY redeemed_at, store_id",
        [code],
    ).fetchall()
    allowed = [int(u[4]) for u in uses if u[4] is not None]
    if not allowed or len(uses) <= min(allowed):
        return []
    detail = {
        "code": code,
        "allowed": min(allowed),
        "uses": [
            {"store_id": s, "sale_reference": ref, "points_spent": int(p), "at": at}
            for s, ref, _c, p, _m, at in uses
        ],
    }
    customer_id = next((u[2] for u in uses if u[2]), None)
    return _record_conflict(db, "coupon", code, customer_id, detail, now)


def _points_conflict(
    db: CentralDb, customer_id: str, customer: _Customer, now: datetime
) -> list[StoreChange]:
    """Points spent beyond the balance: each store spent what it saw offline. The
    conflict names the overspending events and the other spends of the customer's
    points in the week before, so every store involved hears of it."""
    since = to_iso(now - SPENDS_LOOKBACK)
    spends = db.execute(
        "SELECT store_id, code, sale_reference, points_spent, redeemed_at FROM coupon_uses"
        " WHERE customer_id = %s AND points_spent > 0 AND redeemed_at >= %s"
        " ORDER BY redeemed_at, store_id",
        [customer_id, since],
    ).fetchall()
    detail = {
        "customer_id": customer_id,
        "overspent": customer.overspent,
        "spends": [
            {"store_id": s, "code": c, "sale_reference": r, "points_spent": int(p), "at": at}
            for s, c, r, p, at in spends
        ],
    }
    subject = f"{customer_id}:{customer.overspent[0]['at']}"
    return _record_conflict(db, "points", subject, customer_id, detail, now)


def _record_conflict(
    db: CentralDb,
    kind: str,
    subject: str,
    customer_id: str | None,
    detail: dict[str, Any],
    now: datetime,
) -> list[StoreChange]:
    cid = "LC-" + hashlib.sha256(f"{kind}\x00{subject}".encode()).hexdigest()[:16]
    if kind == "coupon":
        stores = sorted({u["store_id"] for u in detail["uses"]})
    else:
        stores = sorted(
            {o["store_id"] for o in detail["overspent"]} | {s["store_id"] for s in detail["spends"]}
        )
    db.execute(
        "INSERT INTO loyalty_conflicts (conflict_id, kind, subject, customer_id, stores,"
        " detail, detected_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (conflict_id) DO UPDATE SET stores = excluded.stores,"
        " detail = excluded.detail, updated_at = excluded.updated_at",
        [cid, kind, subject, customer_id, json.dumps(stores), json.dumps(detail),
         to_iso(now), to_iso(now)],
    )  # fmt: skip
    log.warning("loyalty conflict %s (%s %s) at %s", cid, kind, subject, ", ".join(stores))
    data = {"conflict_id": cid, "kind": kind, "subject": subject, "customer_id": customer_id,
            "stores": stores, "detail": detail, "detected_at": to_iso(now)}  # fmt: skip
    return [c for c in (_append(db, s, CONFLICT_CHANGE, data) for s in stores) if c]


def _append(db: CentralDb, store_id: str, change_type: str, data: dict) -> StoreChange | None:
    try:
        return StoreChange(store_id, append_change(db, store_id, change_type, data))
    except ChangeRejected as exc:
        log.error("%s not sent to %s: %s", change_type, store_id, exc.message)
        return None


def _rank(tier: str | None) -> int:
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else -1
