from dataclasses import replace
from datetime import UTC, datetime, timedelta

from edge_agent.config import RetentionSettings
from edge_agent.customers import IdentifyQuery, identify_customer
from edge_agent.retention import prune
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import loyalty_id_for, seed_store
from hardware.scan import Scan
from sync.protocol.clock import to_iso

START = datetime(2026, 1, 1, 9, tzinfo=UTC)


def ack_all(ctx, at):
    with ctx.store.transaction() as db:
        db.execute("UPDATE outbox SET acked_at = ? WHERE acked_at IS NULL", [to_iso(at)])


def test_prune_keeps_unacked_events_and_recent_rows(seeded):
    clock_at = START
    ctx = replace(seeded, clock=lambda: clock_at)
    identify_customer(
        ctx, IdentifyQuery("loyalty_id", loyalty_id_for(1)), channel="scan", source="s"
    )
    ack_all(ctx, START)
    identify_customer(
        ctx, IdentifyQuery("loyalty_id", loyalty_id_for(2)), channel="scan", source="s"
    )
    deleted = prune(ctx, now=START + timedelta(days=ctx.config.retention.acked_events_days + 1))
    assert deleted["outbox"] == 1
    left = ctx.store.db.execute("SELECT subject, acked_at FROM outbox").fetchall()
    assert left == [("C00000002", None)]
    # Nothing is due yet a day later: an acked event younger than the window stays.
    ack_all(ctx, START + timedelta(days=8))
    assert prune(ctx, now=START + timedelta(days=9))["outbox"] == 0


def test_database_stays_bounded_over_a_simulated_month(seeded):
    # Short windows so a month of traffic runs past all of them several times.
    retention = RetentionSettings(acked_events_days=3, scan_log_days=7)
    seeded = replace(seeded, config=seeded.config.model_copy(update={"retention": retention}))
    dispatcher = ScanDispatcher(seeded)
    sizes = []
    codes = [loyalty_id_for(n) for n in range(1, 41)] + ["8412345678906", "W100000001"] * 10
    for day in range(30):
        today = START + timedelta(days=day)
        for i in range(300):  # a busy till: 300 scans a day
            at = today + timedelta(seconds=90 * i)
            dispatcher.handle(Scan(codes[i % len(codes)], None, "lane-1", at))
        ack_all(seeded, today + timedelta(hours=12))  # the centre acked the day's events
        prune(seeded, now=today + timedelta(hours=23))
        db = seeded.store.db
        used = (
            db.execute("PRAGMA page_count").fetchone()[0]
            - db.execute("PRAGMA freelist_count").fetchone()[0]
        )
        sizes.append(used)
    scan_days = seeded.config.retention.scan_log_days
    assert seeded.store.db.execute("SELECT COUNT(*) FROM scan_log").fetchone()[0] <= 300 * (
        scan_days + 1
    )
    # Once the longest window has filled, the pages in use stop growing.
    steady = sizes[scan_days + 2 :]
    assert max(steady) <= min(steady) * 1.05, sizes
    # And the outbox holds only the acked events inside their window.
    acked_days = seeded.config.retention.acked_events_days
    outbox = seeded.store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert outbox <= 2 * 300 * (acked_days + 1)


def test_customers_not_seen_for_long_leave_the_device_unless_something_is_open(seeded):
    db = seeded.store.db
    days = seeded.config.retention.customer_cache_days
    later = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=days + 1)
    open_owner = db.execute(
        "SELECT customer_id FROM orders WHERE status = 'ready_for_pickup' LIMIT 1"
    ).fetchone()[0]
    # A customer with history everywhere (coupon used, list, points) can still expire.
    expiring = db.execute(
        "SELECT id FROM customers c WHERE id != 'C00000060' AND NOT EXISTS (SELECT 1 FROM"
        " orders o WHERE o.customer_id = c.id AND o.status IN ('placed', 'processing',"
        " 'shipped', 'ready_for_pickup')) ORDER BY id LIMIT 1"
    ).fetchone()[0]
    code = db.execute("SELECT code FROM coupons WHERE customer_id = ?", [expiring]).fetchone()[0]
    with seeded.store.transaction() as tx:
        tx.execute(
            "INSERT INTO coupon_redemptions (code, customer_id, sale_reference, at)"
            " VALUES (?, ?, 'S-1', '2026-01-01')",
            [code, expiring],
        )
        tx.execute("INSERT INTO shopping_lists VALUES ('L-1', ?, 'x', 'till', '', '')", [expiring])
    seen = replace(seeded, clock=lambda: later - timedelta(days=1))
    identify_customer(seen, IdentifyQuery("loyalty_id", loyalty_id_for(60)), channel="scan",
                      source="s")  # fmt: skip
    deleted = prune(seeded, now=later)
    left = {r[0] for r in db.execute("SELECT id FROM customers")}
    assert deleted["customers"] > 0
    assert open_owner in left  # has an order waiting: kept
    assert expiring not in left
    assert "C00000060" in left  # recognised yesterday: kept
    assert len(left) == 60 - deleted["customers"]
    # Their orders stay for returns by number, without the link to the person.
    assert db.execute("SELECT COUNT(*) FROM orders").fetchone()[0] == 600
    assert (
        db.execute(
            "SELECT COUNT(*) FROM loyalty_accounts"
            " WHERE customer_id NOT IN (SELECT id FROM customers)"
        ).fetchone()[0]
        == 0
    )


def test_a_freshly_seeded_store_loses_no_customer_to_the_first_prune(agent):
    seed_store(agent, customers=30, orders=50)
    assert prune(agent)["customers"] == 0
    assert agent.store.db.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 30


def test_expired_kiosk_return_slips_are_pruned_after_their_grace(seeded):
    db = seeded.store.db
    with seeded.store.transaction() as tx:
        for slip, expires in (("old", "2026-01-01T00:00:00.000000Z"),
                              ("fresh", "2026-12-31T00:00:00.000000Z")):  # fmt: skip
            tx.execute(
                "INSERT INTO return_requests (id, order_number, customer_id, lines, source,"
                " created_at, expires_at) VALUES (?, 'W100000001', NULL, '[]', 'kiosk', ?, ?)",
                [slip, expires, expires],
            )
    deleted = prune(seeded, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert deleted["return_requests"] == 1
    assert [r[0] for r in db.execute("SELECT id FROM return_requests")] == ["fresh"]
