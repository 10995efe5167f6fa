"""The centre counts every store's loyalty events into one balance, finds what no store
could see alone, and coalesces the pass updates that follow; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from edge_agent.changes import apply_change
from edge_agent.context import open_agent
from edge_agent.domain import Money
from edge_agent.loyalty import CouponRefused, award_points, redeem_coupon
from edge_agent.staff import Actor
from sync.central.db import CentralDb
from sync.central.ingest import ingest_batch
from sync.central.masterdata import load_records
from sync.central.masterfile import MasterRecords
from sync.central.wallet import updates
from sync.central.wallet.loyalty import list_loyalty_conflicts
from sync.protocol.changes import Change, CustomerUpserted, parse_change
from sync.protocol.envelope import build_event
from tests.at_once import run_at_once
from tests.conftest import make_config
from tests.sync.postgres import postgres_url  # noqa: F401  (fixture)

PREFIX = "retail/v1"
CUSTOMER = "C-LOY-1"
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CASHIER = Actor("ana", "cashier", "staff", "lane-1")


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'central.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def db(db_url):
    db = CentralDb(db_url)
    db.create_schema()
    load_records(db, MasterRecords([customer(points=500, lifetime=1000)], []), "test")
    with db.transaction():  # a pass, so balance changes mark it for re-issue
        db.execute(
            "INSERT INTO wallet_passes (serial, customer_id, kind, platform, status, code,"
            " update_tag, issued_at, updated_at) VALUES ('LPASS', %s, 'loyalty', 'google',"
            " 'active', 'EP1:X', 0, 'x', 'x')",
            [CUSTOMER],
        )
    yield db
    db.close()


def customer(points: int, lifetime: int) -> CustomerUpserted:
    return CustomerUpserted(
        id=CUSTOMER, first_name="Ana", last_name="Ruiz",
        loyalty={"tier": "bronze", "points": points, "lifetime_points": lifetime},
    )  # fmt: skip


class Device:
    """A store device's event stream: numbered as its outbox would number them."""

    def __init__(self, store_id: str, device_id: str = "till-1") -> None:
        self.store_id, self.device_id, self.seq = store_id, device_id, 0

    def message(self, event_type: str, data: dict, at: datetime = AT) -> tuple[str, bytes]:
        self.seq += 1
        event = build_event(event_type=event_type, store_id=self.store_id,
                            device_id=self.device_id, subject=None, data=data, at=at)  # fmt: skip
        event["sequence"] = str(self.seq)
        return f"{PREFIX}/stores/{self.store_id}/events", json.dumps(event).encode()

    def award(self, delta: int, points: int, ref: str) -> tuple[str, bytes]:
        return self.message("loyalty.points_changed", {
            "customer_id": CUSTOMER, "delta": delta, "points": points, "reason": "sale",
            "reference": ref})  # fmt: skip

    def redeem(self, code: str, sale: str, spent: int = 0, most: int | None = 1):
        data = {"code": code, "customer_id": CUSTOMER, "sale_reference": sale,
                "points_spent": spent}  # fmt: skip
        if most is not None:
            data["max_redemptions"] = most
        return self.message("coupon.redeemed", data)


def balance(db) -> tuple[int, int, str]:
    row = db.execute(
        "SELECT points, lifetime_points, tier FROM customers WHERE id = %s", [CUSTOMER]
    ).fetchone()
    return int(row[0]), int(row[1]), row[2]


def changes_of(result, change_type: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for change in result.changes:
        event = json.loads(change.payload)
        if event["type"] == change_type:
            found.setdefault(change.store_id, []).append(event["data"])
    return found


def test_awards_at_two_stores_make_one_balance_told_to_each(db):
    a, b = Device("store-a"), Device("store-b")
    first = ingest_batch(db, PREFIX, [a.award(100, 600, "S1")])
    assert balance(db) == (600, 1100, "bronze")
    second = ingest_batch(db, PREFIX, [b.award(50, 550, "S2"), a.award(30, 630, "S3")])
    assert balance(db) == (680, 1180, "bronze")
    told = changes_of(second, "loyalty.balance")
    assert set(told) == {"store-a", "store-b"}
    assert told["store-a"][0]["points"] == 680
    # Each store hears which of its own events the balance counts, and only its own.
    assert told["store-a"][0]["counted_through"] == {"/stores/store-a/devices/till-1": 2}
    assert told["store-b"][0]["counted_through"] == {"/stores/store-b/devices/till-1": 1}
    assert changes_of(first, "loyalty.balance")["store-a"][0]["points"] == 600
    # The pass is marked for re-issue once, however many events.
    (due,) = updates.due_updates(db, datetime.now(UTC) + timedelta(seconds=5))
    assert due.customer_id == CUSTOMER and not due.tier_changed


def test_a_resent_event_counts_once(db):
    a = Device("store-a")
    message = a.award(100, 600, "S1")
    ingest_batch(db, PREFIX, [message])
    again = ingest_batch(db, PREFIX, [message])
    assert balance(db)[0] == 600
    assert again.changes == [] and again.duplicates == 1


def test_a_tier_change_from_a_store_is_kept_and_never_lowered(db):
    a = Device("store-a")
    for tier in ("gold", "silver"):
        data = {"customer_id": CUSTOMER, "from": "bronze", "to": tier}
        ingest_batch(db, PREFIX, [a.message("loyalty.tier_changed", data)])
    assert balance(db)[2] == "gold"
    (due,) = updates.due_updates(db, datetime.now(UTC) + timedelta(seconds=5))
    assert due.tier_changed


def test_points_spent_twice_offline_are_one_conflict_sent_to_both_stores(db):
    a, b = Device("store-a"), Device("store-b")
    ingest_batch(db, PREFIX, [a.redeem("REWARD-A", "SA", spent=400, most=None)])
    assert balance(db)[0] == 100
    result = ingest_batch(db, PREFIX, [b.redeem("REWARD-B", "SB", spent=400, most=None)])
    assert balance(db)[0] == 0  # the balance stays at zero; the shortfall is the conflict
    (conflict,) = list_loyalty_conflicts(db)
    assert conflict["kind"] == "points"
    assert conflict["stores"] == ["store-a", "store-b"]
    assert conflict["detail"]["overspent"][0]["short_by"] == 300
    told = changes_of(result, "loyalty.conflict")
    assert set(told) == {"store-a", "store-b"}
    parse_change(result.changes[-1].payload)  # what a store would accept


def test_a_coupon_whose_limit_no_store_told_is_not_judged(db):
    a, b = Device("store-a"), Device("store-b")
    ingest_batch(db, PREFIX, [a.redeem("OLD10", "SA", most=None)])
    ingest_batch(db, PREFIX, [b.redeem("OLD10", "SB", most=None)])
    assert list_loyalty_conflicts(db) == []
    ingest_batch(db, PREFIX, [b.redeem("NEW10", "SB2", most=2), a.redeem("NEW10", "SA2", most=2)])
    assert list_loyalty_conflicts(db) == []  # twice, as allowed


def test_two_workers_counting_the_same_customer_at_once_lose_nothing(db, db_url):
    stores = [Device(f"store-{n}") for n in range(4)]
    batches = [[d.award(10, 0, f"{d.store_id}-{i}") for i in range(10)] for d in stores]
    workers = [CentralDb(db_url) for _ in batches]  # a worker's own connection each
    try:
        results = run_at_once(
            *(
                partial(ingest_batch, own, PREFIX, batch)
                for own, batch in zip(workers, batches, strict=True)
            )
        )
    finally:
        for own in workers:
            own.close()
    assert [r for r in results if isinstance(r, Exception)] == []
    assert balance(db)[:2] == (500 + 400, 1000 + 400)


def test_updates_coalesce_a_burst_and_wait_out_the_window(db):
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with db.transaction():
        for n in range(10):  # a burst: one update
            at = t0 + timedelta(milliseconds=10 * n)
            updates.mark_changed(db, "C-X", at, tier_changed=False)
    assert updates.due_updates(db, t0) == []
    (due,) = updates.due_updates(db, t0 + timedelta(seconds=updates.GATHER_SECONDS))
    assert due.changes == 10
    updates.finish(db, due, t0 + timedelta(seconds=1))
    assert updates.pending_count(db) == 0
    with db.transaction():  # a change soon after an update waits for the window's end
        updates.mark_changed(db, "C-X", t0 + timedelta(seconds=2), tier_changed=False)
    window_end = t0 + timedelta(seconds=1 + updates.COALESCE_WINDOW_SECONDS)
    assert updates.due_updates(db, window_end - timedelta(seconds=1)) == []
    with db.transaction():  # ...unless it is a tier change
        updates.mark_changed(db, "C-X", t0 + timedelta(seconds=3), tier_changed=True)
    (due,) = updates.due_updates(db, t0 + timedelta(seconds=4))
    assert due.tier_changed and due.changes == 12  # a running count of changes


def test_an_update_finished_while_another_change_arrived_stays_pending(db):
    t0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with db.transaction():
        updates.mark_changed(db, "C-Y", t0, tier_changed=False)
    (due,) = updates.due_updates(db, t0 + timedelta(seconds=1))
    with db.transaction():  # counted while the passes were being re-issued
        updates.mark_changed(db, "C-Y", t0 + timedelta(seconds=1), tier_changed=False)
    updates.finish(db, due, t0 + timedelta(seconds=2))
    assert updates.pending_count(db) == 1
    later = t0 + timedelta(seconds=2 + updates.COALESCE_WINDOW_SECONDS)
    assert [d.customer_id for d in updates.due_updates(db, later)] == ["C-Y"]


def test_the_store_adds_its_own_events_the_centre_has_not_counted(tmp_path):
    ctx = open_agent(make_config(tmp_path / "store"))
    try:
        with ctx.store.transaction() as db:
            apply_change(db, Change("c1", "customer.upserted", 1, AT, customer(500, 1000)), AT)
        award_points(ctx, CUSTOMER, "S1", Money(10000, "EUR"), actor=CASHIER)  # +100, seq 1
        source = ctx.store.db.execute("SELECT json_extract(envelope, '$.source') FROM outbox")
        source = source.fetchone()[0]

        def centre_says(points: int, counted: int) -> int:
            data = parse_change(json.dumps({
                "specversion": "1.0", "id": "b1", "source": "/central",
                "type": "loyalty.balance", "time": "2026-12-01T10:00:00Z", "sequence": "2",
                "data": {"customer_id": CUSTOMER, "tier": "bronze", "points": points,
                         "lifetime_points": 1000, "counted_through": {source: counted}},
            }).encode())  # fmt: skip
            with ctx.store.transaction() as db:
                apply_change(db, data, AT)
            return ctx.store.db.execute(
                "SELECT points FROM loyalty_accounts WHERE customer_id = ?", [CUSTOMER]
            ).fetchone()[0]

        # Another store's award counted, ours not yet: both show.
        assert centre_says(points=550, counted=0) == 650
        # Ours counted too: the centre's figure is the whole truth.
        assert centre_says(points=650, counted=1) == 650
    finally:
        ctx.store.close()


def test_offline_redemptions_stop_at_the_stores_budget(tmp_path):
    config = make_config(tmp_path / "store")
    config = config.model_copy(
        update={"loyalty": config.loyalty.model_copy(update={"offline_redemptions_max": 1})}
    )
    ctx = open_agent(config)
    try:
        with ctx.store.transaction() as db:
            apply_change(db, Change("c1", "customer.upserted", 1, AT, customer(500, 1000)), AT)
            for code in ("ONE", "TWO"):
                db.execute(
                    "INSERT INTO coupons (code, customer_id, description, kind, value,"
                    " valid_from, valid_until, max_redemptions, updated_at) VALUES (?, ?,"
                    " '-10 %', 'percent_off', 10, '2020-01-01T00:00:00.000000Z',"
                    " '2100-01-01T00:00:00.000000Z', 1, '2020-01-01T00:00:00.000000Z')",
                    [code, CUSTOMER],
                )
        redeem_coupon(ctx, "ONE", CUSTOMER, "S1", actor=CASHIER, online=False)
        with pytest.raises(CouponRefused, match="offline limit"):
            redeem_coupon(ctx, "TWO", CUSTOMER, "S2", actor=CASHIER, online=False)
        redeem_coupon(ctx, "TWO", CUSTOMER, "S2", actor=CASHIER, online=True)  # online: fine
        event = json.loads(
            ctx.store.db.execute(
                "SELECT envelope FROM outbox WHERE type = 'coupon.redeemed' ORDER BY seq"
            ).fetchone()[0]
        )
        assert (event["data"]["max_redemptions"], event["data"]["offline"]) == (1, True)
    finally:
        ctx.store.close()
