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

from edge_agent.clock import iso_now
from edge_agent.errors import StoreError


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

MIGRATIONS: tuple[Migration, ...] = (CORE_SCHEMA, SYNC_INBOX)


def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Apply every step newer than the database's version; return the resulting version."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise StoreError("migration steps must have unique, increasing version numbers")
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    current = schema_version(db)
    latest = versions[-1] if versions else 0
    if current > latest:
        raise StoreError(
            f"the database is at schema version {current} but this agent knows only up to "
            f"{latest}; it was written by a newer agent, install that version again"
        )
    for step in migrations:
        if step.version <= current:
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
                f"the database stays at version {current}: {exc}"
            ) from None
        current = step.version
    return current


def schema_version(db: Database) -> int:
    row = db.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    return row[0] or 0
