"""The schema, built and upgraded in numbered steps.

Each step runs in its own transaction (SQLite DDL is transactional) and is recorded in
`schema_migrations`, so a step that fails leaves the database exactly at the step
before. A database written by a newer agent is refused rather than guessed at.

Conventions: money is INTEGER minor units beside a `currency` column; times are UTC
ISO-8601 text (`2026-11-24T08:00:00.000000Z`), which sorts correctly as text.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from sqlite_utils import Database

from edge_agent.errors import StoreError
from sync.protocol.clock import iso_now

# The acknowledged placeholder row that keeps the outbox's sequence high-water mark
# (see OUTBOX_SEQUENCE); never sent, pruned like any acknowledged event.
HIGH_WATER_ID_PREFIX = "outbox-high-water-"
HIGH_WATER_TYPE = "outbox.high_water"
# The schema's time format (UTC, microseconds, "Z") written by SQL itself.
_NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%S', 'now') || '.000000Z'"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


CORE_SCHEMA = Migration(
    1,
    "core schema",
    (
        """CREATE TABLE agent_meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE customers (
            id TEXT PRIMARY KEY,
            loyalty_id TEXT UNIQUE,
            first_name TEXT NOT NULL,
            last_name TEXT NOT NULL,
            email_hash TEXT,
            phone_hash TEXT,
            preferred_locale TEXT,
            consent_marketing INTEGER NOT NULL DEFAULT 0 CHECK (consent_marketing IN (0, 1)),
            consent_updated_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX customers_email_hash ON customers (email_hash)",
        "CREATE INDEX customers_phone_hash ON customers (phone_hash)",
        """CREATE TABLE loyalty_accounts (
            customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
            tier TEXT NOT NULL CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
            points INTEGER NOT NULL DEFAULT 0 CHECK (points >= 0),
            lifetime_points INTEGER NOT NULL DEFAULT 0 CHECK (lifetime_points >= 0),
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE passes (
            serial TEXT PRIMARY KEY,
            customer_id TEXT REFERENCES customers (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('loyalty', 'coupon', 'pickup')),
            platform TEXT NOT NULL CHECK (platform IN ('apple', 'google', 'paper')),
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
            issued_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
        "CREATE INDEX passes_customer ON passes (customer_id)",
        """CREATE TABLE products (
            gtin TEXT PRIMARY KEY,
            sku TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            category TEXT NOT NULL,
            colour TEXT,
            size TEXT,
            price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
            currency TEXT NOT NULL,
            stock_here INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE orders (
            id INTEGER PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            customer_id TEXT REFERENCES customers (id) ON DELETE SET NULL,
            channel TEXT NOT NULL CHECK (channel IN ('online', 'store')),
            fulfilment TEXT NOT NULL
                CHECK (fulfilment IN ('delivery', 'click_and_collect', 'in_store')),
            status TEXT NOT NULL CHECK (status IN ('placed', 'processing', 'shipped',
                'delivered', 'ready_for_pickup', 'collected', 'cancelled')),
            pickup_store_id TEXT,
            placed_at TEXT NOT NULL,
            fulfilled_at TEXT,
            currency TEXT NOT NULL,
            total_minor INTEGER NOT NULL CHECK (total_minor >= 0),
            payment_method TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX orders_customer ON orders (customer_id, placed_at)",
        """CREATE INDEX orders_pickup ON orders (pickup_store_id, status)
            WHERE fulfilment = 'click_and_collect'""",
        """CREATE TABLE order_lines (
            id INTEGER PRIMARY KEY,
            order_id INTEGER NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
            line_no INTEGER NOT NULL,
            gtin TEXT NOT NULL,
            sku TEXT NOT NULL,
            name TEXT NOT NULL,
            category TEXT,
            colour TEXT,
            size TEXT,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            unit_price_minor INTEGER NOT NULL CHECK (unit_price_minor >= 0),
            final_sale INTEGER NOT NULL DEFAULT 0 CHECK (final_sale IN (0, 1)),
            returned_quantity INTEGER NOT NULL DEFAULT 0
                CHECK (returned_quantity BETWEEN 0 AND quantity),
            UNIQUE (order_id, line_no)
        )""",
        """CREATE TABLE returns (
            id TEXT PRIMARY KEY,
            order_id INTEGER NOT NULL REFERENCES orders (id),
            refund_method TEXT NOT NULL,
            refund_total_minor INTEGER NOT NULL CHECK (refund_total_minor >= 0),
            currency TEXT NOT NULL,
            staff_id TEXT,
            till_id TEXT,
            offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX returns_order ON returns (order_id)",
        """CREATE TABLE return_lines (
            return_id TEXT NOT NULL REFERENCES returns (id) ON DELETE CASCADE,
            order_line_id INTEGER NOT NULL REFERENCES order_lines (id),
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            amount_minor INTEGER NOT NULL CHECK (amount_minor >= 0),
            reason TEXT,
            PRIMARY KEY (return_id, order_line_id)
        )""",
        """CREATE TABLE pickups (
            id TEXT PRIMARY KEY,
            order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id),
            staff_id TEXT,
            till_id TEXT,
            collected_at TEXT NOT NULL
        )""",
        """CREATE TABLE shopping_lists (
            id TEXT PRIMARY KEY,
            customer_id TEXT REFERENCES customers (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('online', 'kiosk', 'till')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX shopping_lists_customer ON shopping_lists (customer_id)",
        """CREATE TABLE shopping_list_items (
            list_id TEXT NOT NULL REFERENCES shopping_lists (id) ON DELETE CASCADE,
            gtin TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity > 0),
            added_at TEXT NOT NULL,
            PRIMARY KEY (list_id, gtin)
        )""",
        """CREATE TABLE scan_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            source TEXT NOT NULL,
            symbology TEXT,
            kind TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX scan_log_at ON scan_log (at)",
        # AUTOINCREMENT: a sequence number is never reused after acked rows are pruned,
        # so the centre can rely on it to order and to spot gaps.
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            subject TEXT,
            created_at TEXT NOT NULL,
            envelope TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            parked_reason TEXT,
            acked_at TEXT
        )""",
        "CREATE INDEX outbox_pending ON outbox (seq) WHERE acked_at IS NULL",
        """CREATE TABLE inbox_feeds (
            feed TEXT PRIMARY KEY,
            last_seq INTEGER NOT NULL CHECK (last_seq >= 0),
            updated_at TEXT NOT NULL
        )""",
        """CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            topic TEXT NOT NULL,
            payload BLOB,
            reason TEXT NOT NULL
        )""",
    ),
)

# Print jobs hold the exact ESC/POS bytes, rendered once when the job is queued, so a
# retry or a reprint sends the same receipt. `state` moves pending -> sending -> printed;
# a job found in `sending` after a crash may have printed and becomes `unconfirmed`
# (never re-sent by itself: a duplicate refund receipt is worse than asking).
PRINT_JOBS = Migration(
    2,
    "print jobs",
    (
        """CREATE TABLE print_jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            printer_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            reference TEXT,
            payload BLOB NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'sending', 'printed', 'unconfirmed', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            printed_at TEXT,
            reprint_of INTEGER REFERENCES print_jobs (id)
        )""",
        "CREATE INDEX print_jobs_queue ON print_jobs (printer_id, state, id)",
    ),
)

WALLET_SCHEMA = Migration(
    4,
    "wallet passes: revocations, sightings, Apple web service, push queue, notifications",
    (
        # The centre's revocation list; `list_version` is the list's version when the
        # serial was added, the newest version applied is in agent_meta.
        """CREATE TABLE pass_revocations (
            serial TEXT PRIMARY KEY,
            revoked_at TEXT NOT NULL,
            reason TEXT,
            list_version INTEGER NOT NULL CHECK (list_version >= 0)
        )""",
        # Where and when a static pass code was seen, here or (from the centre) elsewhere;
        # the same pass at two stores within a short window is a copied code.
        """CREATE TABLE pass_sightings (
            id INTEGER PRIMARY KEY,
            serial TEXT NOT NULL,
            store_id TEXT NOT NULL,
            device_id TEXT,
            seen_at TEXT NOT NULL
        )""",
        "CREATE INDEX pass_sightings_serial ON pass_sightings (serial, seen_at)",
        # The latest signed .pkpass of each Apple pass, served by the PassKit web service.
        # update_tag grows by one on every re-issue ("serials updated since tag").
        """CREATE TABLE apple_passes (
            serial TEXT PRIMARY KEY,
            pass_type_id TEXT NOT NULL,
            auth_token TEXT NOT NULL CHECK (length(auth_token) >= 16),
            update_tag INTEGER NOT NULL CHECK (update_tag >= 1),
            updated_at TEXT NOT NULL,
            pkpass BLOB NOT NULL
        )""",
        "CREATE INDEX apple_passes_tag ON apple_passes (pass_type_id, update_tag)",
        """CREATE TABLE apple_registrations (
            device_id TEXT NOT NULL,
            pass_type_id TEXT NOT NULL,
            serial TEXT NOT NULL REFERENCES apple_passes (serial) ON DELETE CASCADE,
            push_token TEXT NOT NULL,
            registered_at TEXT NOT NULL,
            PRIMARY KEY (device_id, pass_type_id, serial)
        )""",
        "CREATE INDEX apple_registrations_serial ON apple_registrations (serial)",
        "CREATE INDEX apple_registrations_token ON apple_registrations (push_token)",
        # APNs pushes waiting to go; a row leaves only when APNs accepted it (or said 410).
        """CREATE TABLE apns_push_queue (
            id INTEGER PRIMARY KEY,
            push_token TEXT NOT NULL,
            pass_type_id TEXT NOT NULL,
            serial TEXT NOT NULL,
            queued_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            UNIQUE (push_token, pass_type_id)
        )""",
        # Notifying updates sent per pass, to keep within Google's 3 per pass per 24 h.
        """CREATE TABLE wallet_notifications (
            id INTEGER PRIMARY KEY,
            serial TEXT NOT NULL,
            platform TEXT NOT NULL CHECK (platform IN ('apple', 'google')),
            sent_at TEXT NOT NULL
        )""",
        "CREATE INDEX wallet_notifications_serial ON wallet_notifications (serial, sent_at)",
    ),
)

TILL_SCHEMA = Migration(
    5,
    "till: staff, sessions, api keys, audit, returns approval, loyalty ledger, coupons",
    (
        """CREATE TABLE staff (
            id TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor')),
            pin_hash TEXT NOT NULL,
            failed_attempts INTEGER NOT NULL DEFAULT 0,
            locked_until TEXT,
            active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        # Only a hash of each bearer token is kept: a copied database grants no session.
        """CREATE TABLE staff_sessions (
            token_hash TEXT PRIMARY KEY,
            staff_id TEXT NOT NULL REFERENCES staff (id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            till_id TEXT,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at)",
        """CREATE TABLE api_keys (
            key_hash TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('cashier', 'supervisor')),
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )""",
        """CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            till_id TEXT,
            action TEXT NOT NULL,
            subject TEXT,
            detail TEXT
        )""",
        "CREATE INDEX audit_log_at ON audit_log (at)",
        "ALTER TABLE returns ADD COLUMN approved_by TEXT",
        # When the customer was last recognised here: cached personal data expires.
        "ALTER TABLE customers ADD COLUMN last_seen_at TEXT",
        """CREATE TABLE loyalty_ledger (
            id INTEGER PRIMARY KEY,
            customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
            delta INTEGER NOT NULL,
            reason TEXT NOT NULL,
            reference TEXT NOT NULL,
            at TEXT NOT NULL,
            UNIQUE (reason, reference)
        )""",
        """CREATE TABLE coupons (
            code TEXT PRIMARY KEY,
            customer_id TEXT REFERENCES customers (id) ON DELETE CASCADE,
            description TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('percent_off', 'amount_off', 'reward')),
            value INTEGER NOT NULL CHECK (value > 0),
            currency TEXT,
            points_cost INTEGER NOT NULL DEFAULT 0 CHECK (points_cost >= 0),
            valid_from TEXT NOT NULL,
            valid_until TEXT NOT NULL,
            max_redemptions INTEGER NOT NULL DEFAULT 1 CHECK (max_redemptions > 0),
            redemptions INTEGER NOT NULL DEFAULT 0
                CHECK (redemptions BETWEEN 0 AND max_redemptions),
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX coupons_customer ON coupons (customer_id)",
        """CREATE TABLE coupon_redemptions (
            id INTEGER PRIMARY KEY,
            code TEXT NOT NULL REFERENCES coupons (code) ON DELETE CASCADE,
            customer_id TEXT,
            sale_reference TEXT NOT NULL,
            till_id TEXT,
            staff_id TEXT,
            at TEXT NOT NULL,
            UNIQUE (code, sale_reference)
        )""",
    ),
)

SCREENS_SCHEMA = Migration(
    6,
    "screens: kiosk return requests, lists sent to staff",
    (
        # A return started at the kiosk: the slip's QR carries `RR:<id>`; the id is
        # random and long, so a slip cannot be guessed from another one. It goes with
        # its customer when the customer leaves the device (erasure, cache expiry).
        """CREATE TABLE return_requests (
            id TEXT PRIMARY KEY,
            order_number TEXT NOT NULL,
            customer_id TEXT REFERENCES customers (id) ON DELETE CASCADE,
            lines TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        "CREATE INDEX return_requests_expires_at ON return_requests (expires_at)",
        "CREATE INDEX return_requests_customer ON return_requests (customer_id)",
        # A separate table rather than a new column on shopping_lists: existing inserts
        # that list no columns keep working.
        """CREATE TABLE list_handoffs (
            list_id TEXT PRIMARY KEY REFERENCES shopping_lists (id) ON DELETE CASCADE,
            source TEXT NOT NULL,
            sent_at TEXT NOT NULL
        )""",
        "CREATE INDEX list_handoffs_sent_at ON list_handoffs (sent_at)",
    ),
)


SYNC_INBOX = Migration(
    3,
    "sync inbox: applied changes and central config",
    (
        # Which change (by id) was applied at each feed sequence: a message replayed with
        # a sequence already applied is recognised as a duplicate, or as a forgery when its
        # id differs.
        """CREATE TABLE inbox_applied (
            feed TEXT NOT NULL,
            seq INTEGER NOT NULL CHECK (seq > 0),
            change_id TEXT NOT NULL,
            type TEXT NOT NULL,
            applied_at TEXT NOT NULL,
            PRIMARY KEY (feed, seq)
        )""",
        """CREATE TABLE central_config (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX outbox_parked ON outbox (seq) WHERE parked_reason IS NOT NULL",
    ),
)


# One page written per event instead of four: an outbox insert used to dirty the table,
# the event_id unique index, the pending-rows index and sqlite_sequence (AUTOINCREMENT),
# each a WAL frame in every till commit and four times the checkpoint work.
# - The sequence stays never-reused without AUTOINCREMENT because the newest row is
#   never pruned (sync.publisher and edge_agent.retention both keep it), so SQLite's
#   next rowid is always above every seq ever handed out. Where pruning already removed
#   the newest rows, the old sqlite_sequence high-water mark is kept as an acknowledged
#   placeholder row, so the first new event continues after it.
# - event_id is looked up only through its seq now (acks carry sequence ranges), and
#   ids are UUID4, so its unique index protected nothing the centre does not check.
# - Pending rows are found by walking the primary key from the publisher's cursor.
OUTBOX_SEQUENCE = Migration(
    7,
    "outbox: seq without AUTOINCREMENT, no per-insert indexes",
    (
        """CREATE TABLE outbox_v7 (
            seq INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL,
            type TEXT NOT NULL,
            subject TEXT,
            created_at TEXT NOT NULL,
            envelope TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            parked_reason TEXT,
            acked_at TEXT
        )""",
        "INSERT INTO outbox_v7 (seq, event_id, type, subject, created_at, envelope, attempts,"
        " last_error, parked_reason, acked_at) SELECT seq, event_id, type, subject, created_at,"
        " envelope, attempts, last_error, parked_reason, acked_at FROM outbox",
        # The placeholder carries the high-water mark only; it is acknowledged (never sent)
        # and goes with ordinary retention once newer events exist.
        f"""INSERT INTO outbox_v7 (seq, event_id, type, created_at, envelope, acked_at)
        SELECT s.seq, {HIGH_WATER_ID_PREFIX!r} || s.seq, {HIGH_WATER_TYPE!r}, {_NOW_SQL},
            '{{}}', {_NOW_SQL}
        FROM sqlite_sequence s
        WHERE s.name = 'outbox' AND s.seq > (SELECT COALESCE(MAX(seq), 0) FROM outbox)""",
        "DROP TABLE outbox",
        "ALTER TABLE outbox_v7 RENAME TO outbox",
        "CREATE INDEX outbox_parked ON outbox (seq) WHERE parked_reason IS NOT NULL",
    ),
)


RETURN_CONFLICTS = Migration(
    8,
    "return conflicts from the centre",
    (
        # An order line returned here and at another store for more than was bought
        # (the change `return.conflict`); `returns` is the centre's per-store list, JSON.
        """CREATE TABLE return_conflicts (
            id TEXT PRIMARY KEY,
            order_number TEXT NOT NULL,
            line_no INTEGER NOT NULL CHECK (line_no > 0),
            sku TEXT NOT NULL,
            ordered_quantity INTEGER NOT NULL CHECK (ordered_quantity > 0),
            returned_quantity INTEGER NOT NULL CHECK (returned_quantity > 0),
            currency TEXT NOT NULL,
            returns TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            resolved_at TEXT,
            resolved_by TEXT,
            resolution_note TEXT
        )""",
        "CREATE INDEX return_conflicts_order ON return_conflicts (order_number, line_no)",
    ),
)


# Numbered after its issue (17), like SECURITY (18): steps built in parallel do not collide.
STOCK_AND_REQUESTS = Migration(
    17,
    "stock here from the centre, local stock movements, orders requested at the till",
    (
        # Variants of one product (its sizes and colours) share a style. The seeded
        # catalogue's SKUs are STYLE-SIZE, so existing rows get theirs from the SKU.
        "ALTER TABLE products ADD COLUMN style TEXT",
        """UPDATE products SET style = substr(sku, 1, length(sku) - length(size) - 1)
            WHERE size IS NOT NULL AND sku LIKE '%-' || size""",
        "CREATE INDEX products_style ON products (style)",
        # The centre's figure per GTIN (change `stock.levels`) and when it was taken:
        # this store's own movements after `as_of` are not in it yet.
        """CREATE TABLE stock_levels (
            gtin TEXT PRIMARY KEY,
            quantity INTEGER NOT NULL,
            as_of TEXT NOT NULL,
            received_at TEXT NOT NULL
        )""",
        # Sales and returns recorded here; each (reference, reason, gtin) counts once.
        """CREATE TABLE stock_movements (
            id INTEGER PRIMARY KEY,
            gtin TEXT NOT NULL,
            delta INTEGER NOT NULL CHECK (delta <> 0),
            reason TEXT NOT NULL CHECK (reason IN ('sale', 'return')),
            reference TEXT NOT NULL,
            at TEXT NOT NULL,
            UNIQUE (reference, reason, gtin)
        )""",
        "CREATE INDEX stock_movements_gtin ON stock_movements (gtin, at)",
        # Orders staff asked the centre for (event `order.requested`, same id): shown in
        # the customer's profile as pending until the centre's order arrives.
        """CREATE TABLE order_requests (
            event_id TEXT PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            customer_id TEXT REFERENCES customers (id) ON DELETE CASCADE,
            fulfilment TEXT NOT NULL CHECK (fulfilment IN ('click_and_collect', 'delivery')),
            pickup_store_id TEXT,
            lines TEXT NOT NULL,
            total_minor INTEGER NOT NULL CHECK (total_minor >= 0),
            currency TEXT NOT NULL,
            staff_id TEXT NOT NULL,
            till_id TEXT,
            outbox_seq INTEGER NOT NULL,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX order_requests_customer ON order_requests (customer_id, created_at)",
    ),
)

# Numbered after its issue (14), as the other parallel steps are.
LOYALTY_FROM_CENTRE = Migration(
    14,
    "loyalty from the centre: passes on a phone, loyalty conflicts",
    (
        # Whether the customer carries the pass on a phone (an Apple device registered
        # it, or Google said it was saved), as the centre last said (`pass.upserted`).
        "ALTER TABLE passes ADD COLUMN on_device INTEGER NOT NULL DEFAULT 0"
        " CHECK (on_device IN (0, 1))",
        # A coupon used more often than allowed, or points spent twice, across stores
        # (the change `loyalty.conflict`); `detail` is the centre's JSON.
        """CREATE TABLE loyalty_conflicts (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('coupon', 'points')),
            subject TEXT NOT NULL,
            customer_id TEXT,
            stores TEXT NOT NULL,
            detail TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            received_at TEXT NOT NULL
        )""",
        # Issuing, the PassKit web service and pushes moved to the centre: a store keeps
        # no .pkpass, device registrations, push queue or notification counts. The
        # serial -> customer records (`passes`) stay, so every pass still identifies.
        "DROP TABLE IF EXISTS apns_push_queue",
        "DROP TABLE IF EXISTS apple_registrations",
        "DROP TABLE IF EXISTS apple_passes",
        "DROP TABLE IF EXISTS wallet_notifications",
    ),
)

# Each event's hash as sent (sync.protocol.chain): the next event carries it, so the
# centre sees if an event is altered, removed or reordered on the device. Rows written
# before this step have none; the first new event starts the chain (GENESIS).
# Numbered after its issue (15), like SECURITY, so parallel steps do not collide.
OUTBOX_CHAIN = Migration(
    15,
    "outbox: hash chain over each device's events",
    ("ALTER TABLE outbox ADD COLUMN chain_hash TEXT",),
)


# Numbered after its issue so that steps built in parallel do not collide.
SECURITY = Migration(
    18,
    "console sessions with an idle timeout, offline refunds per till per day",
    (
        # 'api' sessions carry a bearer token; 'console' sessions live only behind the
        # console's cookie and end after `console.idle_timeout_minutes` without a request.
        "ALTER TABLE staff_sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'api'"
        " CHECK (kind IN ('api', 'console'))",
        "ALTER TABLE staff_sessions ADD COLUMN last_seen_at TEXT",
        "CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id)",
        # The offline refund limit sums what one till refunded offline since midnight.
        "CREATE INDEX returns_offline_till ON returns (till_id, created_at) WHERE offline = 1",
    ),
)


MIGRATIONS: tuple[Migration, ...] = (
    CORE_SCHEMA,
    PRINT_JOBS,
    SYNC_INBOX,
    WALLET_SCHEMA,
    TILL_SCHEMA,
    SCREENS_SCHEMA,
    OUTBOX_SEQUENCE,
    RETURN_CONFLICTS,
    LOYALTY_FROM_CENTRE,
    OUTBOX_CHAIN,
    STOCK_AND_REQUESTS,
    SECURITY,
)


def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply every step newer than the database's version; return the resulting version."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise StoreError("migration steps must have unique, increasing version numbers")
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    current = max(applied, default=0)
    unknown = sorted(applied - set(versions))
    if unknown:
        raise StoreError(
            f"the database has schema steps {unknown} that this agent does not know; it was "
            "written by a newer agent, install that version again"
        )
    # Steps are applied by what is missing, not by "newer than the highest": work built in
    # parallel lands steps in any order, and a step merged late must still run.
    for step in migrations:
        if step.version in applied:
            continue
        try:
            with db.atomic():
                for statement in step.statements:
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [step.version, step.name, iso_now()],
                )
        except sqlite3.Error as exc:
            raise StoreError(
                f"schema step {step.version} ({step.name}) failed and was rolled back; "
                f"the database keeps the steps it had: {exc}"
            ) from None
        current = max(current, step.version)
    return current


def schema_version(db: Database) -> int:
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0
