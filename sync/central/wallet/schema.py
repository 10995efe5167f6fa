"""The wallet service's tables at the centre (PostgreSQL or SQLite; `{blob}` is the one
word the two dialects spell differently)."""

from __future__ import annotations

WALLET_SCHEMA = (
    # Every pass the centre issued. `code` is the signed pass code in its barcode; the
    # Apple columns hold the newest signed .pkpass and its update tag (grows by one on
    # each re-issue, "serials updated since tag"); `shown_*` is what the pass shows now,
    # so a re-issue that would change nothing is skipped. `google_state` is what Google's
    # save/delete callbacks said last.
    """CREATE TABLE IF NOT EXISTS wallet_passes (
        serial TEXT PRIMARY KEY,
        customer_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        platform TEXT NOT NULL,
        status TEXT NOT NULL,
        code TEXT NOT NULL,
        pass_type_id TEXT,
        auth_token TEXT,
        update_tag BIGINT NOT NULL,
        pkpass {blob},
        shown_points BIGINT,
        shown_tier TEXT,
        google_state TEXT,
        issued_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS wallet_passes_customer ON wallet_passes (customer_id)",
    "CREATE INDEX IF NOT EXISTS wallet_passes_tag ON wallet_passes (pass_type_id, update_tag)",
    # Counters handed out under a row lock (see `passes.next_update_tag`).
    """CREATE TABLE IF NOT EXISTS wallet_counters (
        name TEXT PRIMARY KEY,
        value BIGINT NOT NULL
    )""",
    "INSERT INTO wallet_counters (name, value) VALUES ('update_tag', 0) ON CONFLICT DO NOTHING",
    # The customer's "add to wallet" page: an unguessable token the retailer's email links.
    """CREATE TABLE IF NOT EXISTS wallet_pages (
        customer_id TEXT PRIMARY KEY,
        token TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    # Apple devices holding a pass (PassKit web service registrations).
    """CREATE TABLE IF NOT EXISTS wallet_registrations (
        device_id TEXT NOT NULL,
        pass_type_id TEXT NOT NULL,
        serial TEXT NOT NULL,
        push_token TEXT NOT NULL,
        registered_at TEXT NOT NULL,
        PRIMARY KEY (device_id, pass_type_id, serial)
    )""",
    "CREATE INDEX IF NOT EXISTS wallet_registrations_serial ON wallet_registrations (serial)",
    "CREATE INDEX IF NOT EXISTS wallet_registrations_token ON wallet_registrations (push_token)",
    # APNs pushes waiting to go: one per device and pass type (the device then asks which
    # of its serials changed); a row leaves when APNs accepted it or said 410.
    """CREATE TABLE IF NOT EXISTS wallet_push_queue (
        push_token TEXT NOT NULL,
        pass_type_id TEXT NOT NULL,
        serial TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        PRIMARY KEY (push_token, pass_type_id)
    )""",
    # Notifying updates sent, to stay within Google's 3 per pass per 24 hours.
    """CREATE TABLE IF NOT EXISTS wallet_notifications (
        serial TEXT NOT NULL,
        platform TEXT NOT NULL,
        sent_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS wallet_notifications_serial"
    " ON wallet_notifications (serial, platform, sent_at)",
    # Customers whose passes wait to be re-issued (coalescing, `sync.central.wallet.updates`).
    """CREATE TABLE IF NOT EXISTS wallet_updates (
        customer_id TEXT PRIMARY KEY,
        pending INTEGER NOT NULL,
        changes BIGINT NOT NULL,
        tier_changes INTEGER NOT NULL,
        due_at TEXT NOT NULL,
        last_sent_at TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS wallet_updates_due ON wallet_updates (pending, due_at)",
    # Google callback nonces seen: a replayed callback is dropped.
    """CREATE TABLE IF NOT EXISTS google_callback_nonces (
        nonce TEXT PRIMARY KEY,
        received_at TEXT NOT NULL
    )""",
    # Loyalty at the centre (`sync.central.wallet.loyalty`): the newest event of each
    # device counted into a customer's balance, coupon uses from every store, conflicts.
    """CREATE TABLE IF NOT EXISTS loyalty_counted (
        customer_id TEXT NOT NULL,
        source TEXT NOT NULL,
        seq BIGINT NOT NULL,
        PRIMARY KEY (customer_id, source)
    )""",
    """CREATE TABLE IF NOT EXISTS coupon_uses (
        code TEXT NOT NULL,
        sale_reference TEXT NOT NULL,
        store_id TEXT NOT NULL,
        customer_id TEXT,
        points_spent BIGINT NOT NULL,
        max_redemptions INTEGER,
        redeemed_at TEXT NOT NULL,
        PRIMARY KEY (code, sale_reference)
    )""",
    """CREATE TABLE IF NOT EXISTS loyalty_conflicts (
        conflict_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        customer_id TEXT,
        stores TEXT NOT NULL,
        detail TEXT NOT NULL,
        detected_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)


def wallet_statements(postgres: bool) -> tuple[str, ...]:
    blob = "BYTEA" if postgres else "BLOB"
    return tuple(statement.replace("{blob}", blob) for statement in WALLET_SCHEMA)
