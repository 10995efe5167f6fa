from dataclasses import replace
from datetime import UTC, datetime, timedelta

from edge_agent.clock import to_iso
from edge_agent.config import RetentionSettings
from edge_agent.customers import IdentifyQuery, identify_customer
from edge_agent.retention import prune
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import loyalty_id_for
from hardware.scan import Scan

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
