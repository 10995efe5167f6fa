"""Points and coupons at checkout.

Awarding is idempotent per sale (a POS that retries does not double the points); a
coupon is redeemed with a conditional UPDATE inside a write transaction, so the same
coupon scanned at two tills at the same instant succeeds once. Tier changes are
detected here and synced, so the customer's wallet pass updates.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlite_utils import Database

from edge_agent.context import AgentContext
from edge_agent.domain import Money
from edge_agent.errors import CustomerNotFound, EdgeAgentError, InputRefused, InvalidInput, NotFound
from edge_agent.i18n import Phrase
from edge_agent.outbox import append_event, unacknowledged_redemptions, unconfirmed_loyalty
from edge_agent.staff import Actor, audit
from sync.protocol.clock import from_iso, to_iso
from sync.protocol.wallet_changes import LoyaltyBalance
from sync.protocol.wallet_changes import LoyaltyConflict as LoyaltyConflictChange

# Lifetime points at which each tier starts, lowest first.
TIER_THRESHOLDS = (("bronze", 0), ("silver", 2_000), ("gold", 8_000), ("platinum", 20_000))
# Points per whole currency unit spent, by tier (better tiers earn faster).
EARN_RATE = {"bronze": 1.0, "silver": 1.25, "gold": 1.5, "platinum": 2.0}


class CouponRefused(EdgeAgentError):
    code = "coupon_refused"
    http_status = 409


@dataclass(frozen=True)
class PointsAward:
    customer_id: str
    awarded: int
    points: int
    tier: str
    previous_tier: str
    duplicate: bool  # this sale had already been awarded: nothing changed


@dataclass(frozen=True)
class Redemption:
    code: str
    description: str
    kind: str
    value: int
    points_spent: int
    remaining_uses: int


def tier_for(lifetime_points: int) -> str:
    tier = TIER_THRESHOLDS[0][0]
    for name, threshold in TIER_THRESHOLDS:
        if lifetime_points >= threshold:
            tier = name
    return tier


def award_points(
    ctx: AgentContext, customer_id: str, sale_reference: str, spent: Money, *, actor: Actor
) -> PointsAward:
    if spent.amount_minor <= 0:
        raise InvalidInput("a sale earns points only for a positive amount")
    if spent.currency != ctx.config.store.currency:
        raise InputRefused(
            Phrase(
                "this store earns points on %(currency)s sales", currency=ctx.config.store.currency
            )
        )
    now = ctx.clock()
    with ctx.store.transaction() as db:
        account = db.execute(
            "SELECT tier, points, lifetime_points FROM loyalty_accounts WHERE customer_id = ?",
            [customer_id],
        ).fetchone()
        if account is None:
            raise CustomerNotFound(
                Phrase("this customer has no loyalty account in the store's cache")
            )
        tier, points, lifetime = account
        earned = int(spent.amount_minor // 100 * EARN_RATE[tier])
        try:
            db.execute(
                "INSERT INTO loyalty_ledger (customer_id, delta, reason, reference, at)"
                " VALUES (?, ?, 'sale', ?, ?)",
                [customer_id, earned, sale_reference, to_iso(now)],
            )
        except sqlite3.IntegrityError:
            return PointsAward(customer_id, 0, points, tier, tier, duplicate=True)
        points, lifetime = points + earned, lifetime + earned
        new_tier = _higher(tier, tier_for(lifetime))
        db.execute(
            "UPDATE loyalty_accounts SET points = ?, lifetime_points = ?, tier = ?,"
            " updated_at = ? WHERE customer_id = ?",
            [points, lifetime, new_tier, to_iso(now), customer_id],
        )
        audit(db, actor, "loyalty.points_awarded", customer_id,
              {"sale": sale_reference, "points": earned}, now)  # fmt: skip
        append_event(db, ctx.origin, "loyalty.points_changed", customer_id, {
            "customer_id": customer_id, "delta": earned, "points": points,
            "reason": "sale", "reference": sale_reference,
        }, at=now)  # fmt: skip
        if new_tier != tier:
            append_event(db, ctx.origin, "loyalty.tier_changed", customer_id, {
                "customer_id": customer_id, "from": tier, "to": new_tier,
            }, at=now)  # fmt: skip
    return PointsAward(customer_id, earned, points, new_tier, tier, duplicate=False)


def redeem_coupon(
    ctx: AgentContext,
    code: str,
    customer_id: str | None,
    sale_reference: str,
    *,
    actor: Actor,
    online: bool = True,
) -> Redemption:
    """Use a coupon or reward once for this sale; CouponRefused says why not.

    Offline (the centre unreachable) the store cannot know whether another store used
    the coupon or the points already, so it redeems only within its offline budget
    (`loyalty.offline_redemptions_max` coupons, `loyalty.offline_points_max` points, both
    counted over its redemptions the centre has not acknowledged yet)."""
    now = ctx.clock()
    code = code.strip().upper()
    with ctx.store.transaction() as db:
        if not online:
            _within_offline_budget(ctx, db, code)
        row = db.execute(
            "SELECT customer_id, description, kind, value, points_cost, valid_from, valid_until,"
            " max_redemptions, redemptions FROM coupons WHERE code = ?",
            [code],
        ).fetchone()
        if row is None:
            raise NotFound(Phrase("coupon %(code)s is not known at this store", code=code))
        owner, description, kind, value, cost, valid_from, valid_until, most, used = row
        if owner is not None and owner != customer_id:
            raise CouponRefused(Phrase("coupon %(code)s belongs to another customer", code=code))
        if now < from_iso(valid_from):
            raise CouponRefused(
                Phrase("coupon %(code)s is valid from %(date)s", code=code,
                       date=f"{from_iso(valid_from):%d/%m/%Y}")
            )  # fmt: skip
        if now > from_iso(valid_until):
            raise CouponRefused(
                Phrase("coupon %(code)s expired on %(date)s", code=code,
                       date=f"{from_iso(valid_until):%d/%m/%Y}")
            )  # fmt: skip
        if db.execute(
            "SELECT 1 FROM coupon_redemptions WHERE code = ? AND sale_reference = ?",
            [code, sale_reference],
        ).fetchone():
            raise CouponRefused(
                Phrase("coupon %(code)s is already applied to this sale", code=code)
            )
        taken = db.execute(
            "UPDATE coupons SET redemptions = redemptions + 1, updated_at = ?"
            " WHERE code = ? AND redemptions < max_redemptions",
            [to_iso(now), code],
        ).rowcount
        if taken != 1:
            raise CouponRefused(Phrase("coupon %(code)s has already been used", code=code))
        if cost:
            paid = db.execute(
                "UPDATE loyalty_accounts SET points = points - ?, updated_at = ?"
                " WHERE customer_id = ? AND points >= ?",
                [cost, to_iso(now), customer_id, cost],
            ).rowcount
            if paid != 1:
                raise CouponRefused(
                    Phrase("this reward needs %(cost)s points; the customer has fewer", cost=cost)
                )
            db.execute(
                "INSERT INTO loyalty_ledger (customer_id, delta, reason, reference, at)"
                " VALUES (?, ?, 'reward', ?, ?)",
                [customer_id, -cost, f"{code}:{sale_reference}", to_iso(now)],
            )
        db.execute(
            "INSERT INTO coupon_redemptions (code, customer_id, sale_reference, till_id,"
            " staff_id, at) VALUES (?, ?, ?, ?, ?, ?)",
            [code, customer_id, sale_reference, actor.till_id, actor.id, to_iso(now)],
        )
        audit(db, actor, "coupon.redeemed", code, {"sale": sale_reference}, now)
        append_event(db, ctx.origin, "coupon.redeemed", code, {
            "code": code, "customer_id": customer_id, "sale_reference": sale_reference,
            "points_spent": cost, "till_id": actor.till_id, "max_redemptions": most,
            "offline": not online,
        }, at=now)  # fmt: skip
    return Redemption(code, description, kind, value, cost, most - used - 1)


def _within_offline_budget(ctx: AgentContext, db: Database, code: str) -> None:
    settings = ctx.config.loyalty
    row = db.execute("SELECT points_cost FROM coupons WHERE code = ?", [code]).fetchone()
    cost = int(row[0]) if row else 0
    used = unacknowledged_redemptions(db)
    if used.events + 1 > settings.offline_redemptions_max:
        raise CouponRefused(
            f"the store is offline and has redeemed {used.events} coupon(s) the centre has not "
            "confirmed yet (the offline limit); redeem it once the store is back online"
        )
    if used.points + cost > settings.offline_points_max:
        raise CouponRefused(
            f"the store is offline: redeeming {cost} points would pass the offline limit of "
            f"{settings.offline_points_max} points not yet confirmed by the centre"
        )


def _higher(a: str, b: str) -> str:
    """Tiers only go up at the till; the centre handles yearly re-qualification."""
    order = [name for name, _ in TIER_THRESHOLDS]
    return a if order.index(a) >= order.index(b) else b


def apply_centre_balance(db: Database, balance: LoyaltyBalance, at: datetime) -> None:
    """The centre's balance (every store's events counted), plus this device's own events
    it had not counted yet; inside the caller's transaction. A customer not held here
    is skipped (the centre sends the balance again with the customer when needed)."""
    if db.execute("SELECT 1 FROM customers WHERE id = ?", [balance.customer_id]).fetchone() is None:
        return
    mine = unconfirmed_loyalty(db, balance.customer_id, balance.counted_through)
    tier = balance.tier
    if mine.events:
        row = db.execute(
            "SELECT tier FROM loyalty_accounts WHERE customer_id = ?", [balance.customer_id]
        ).fetchone()
        tier = _higher(tier, tier_for(balance.lifetime_points + mine.earned))
        if row is not None:
            tier = _higher(tier, row[0])
    db.execute(
        "INSERT INTO loyalty_accounts (customer_id, tier, points, lifetime_points, updated_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO UPDATE SET tier = excluded.tier,"
        " points = excluded.points, lifetime_points = excluded.lifetime_points,"
        " updated_at = excluded.updated_at",
        [balance.customer_id, tier, max(0, balance.points + mine.points),
         balance.lifetime_points + mine.earned, to_iso(at)],
    )  # fmt: skip


def apply_loyalty_conflict(db: Database, conflict: LoyaltyConflictChange, at: datetime) -> None:
    """A coupon or points conflict the centre found; kept for the till (idempotent)."""
    db.execute(
        "INSERT INTO loyalty_conflicts (id, kind, subject, customer_id, stores, detail,"
        " detected_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE"
        " SET stores = excluded.stores, detail = excluded.detail,"
        " received_at = excluded.received_at",
        [conflict.conflict_id, conflict.kind, conflict.subject, conflict.customer_id,
         json.dumps(list(conflict.stores)), json.dumps(conflict.detail, sort_keys=True),
         to_iso(conflict.detected_at), to_iso(at)],
    )  # fmt: skip


@dataclass(frozen=True)
class LoyaltyConflict:
    """A coupon used more often than allowed, or points spent twice, across stores (the
    centre found it). No names: codes, sale references, stores, points."""

    id: str
    kind: str  # "coupon" or "points"
    subject: str  # the coupon code, or customer:time
    customer_id: str | None
    stores: tuple[str, ...]
    detail: dict[str, Any]
    detected_at: str


def loyalty_conflicts(db: Database) -> tuple[LoyaltyConflict, ...]:
    """Conflicts the centre reported to this store, newest first."""
    rows = db.execute(
        "SELECT id, kind, subject, customer_id, stores, detail, detected_at FROM"
        " loyalty_conflicts ORDER BY detected_at DESC, id"
    ).fetchall()
    return tuple(
        LoyaltyConflict(cid, kind, subject, customer, tuple(json.loads(stores)),
                        json.loads(detail), detected)
        for cid, kind, subject, customer, stores, detail, detected in rows
    )  # fmt: skip
