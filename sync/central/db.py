"""The centre's database: PostgreSQL (psycopg 3) given a URL, SQLite by default.

One small adapter so the ingest writes the same SQL to both: statements use `%s`
placeholders and ON CONFLICT, which both dialects understand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.central.stock_schema import STOCK_SCHEMA
from sync.errors import SyncError

SCHEMA = (
    # Every event a store sent, once: the event id is the key, so a resend changes nothing.
    """CREATE TABLE IF NOT EXISTS events (
        event_id TEXT PRIMARY KEY,
        store_id TEXT NOT NULL,
        source TEXT NOT NULL,
        seq BIGINT NOT NULL,
        type TEXT NOT NULL,
        time TEXT NOT NULL,
        envelope TEXT NOT NULL,
        received_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_source_seq ON events (source, seq)",
    # Per device (event source): every seq up to contiguous_seq has arrived; max_seq above
    # it means a gap the store has not filled yet.
    """CREATE TABLE IF NOT EXISTS sources (
        source TEXT PRIMARY KEY,
        store_id TEXT NOT NULL,
        contiguous_seq BIGINT NOT NULL,
        max_seq BIGINT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS rejected_events (
        event_id TEXT PRIMARY KEY,
        store_id TEXT NOT NULL,
        reason TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at TEXT NOT NULL
    )""",
    # Each store's gap-free change feed; the payload is the CloudEvent as sent.
    """CREATE TABLE IF NOT EXISTS changes (
        store_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        change_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (store_id, seq)
    )""",
    """CREATE TABLE IF NOT EXISTS revocations (
        serial TEXT PRIMARY KEY,
        revoked_at TEXT NOT NULL
    )""",
    # Every pass key set published to the stores; the newest is the one in force.
    """CREATE TABLE IF NOT EXISTS key_sets (
        version BIGINT PRIMARY KEY,
        payload TEXT NOT NULL,
        published_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS fleet (
        store_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        state TEXT NOT NULL,
        version TEXT,
        backlog BIGINT,
        detail TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        PRIMARY KEY (store_id, device_id)
    )""",
    # Master data (`edge-central load`): what the stores are told and look-ups answer
    # from. `digest` is the hash of the record as loaded, so a reload of the same record
    # is recognised and records no change.
    """CREATE TABLE IF NOT EXISTS customers (
        id TEXT PRIMARY KEY,
        loyalty_id TEXT,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        email_hash TEXT,
        phone_hash TEXT,
        preferred_locale TEXT,
        consent_marketing INTEGER NOT NULL,
        tier TEXT,
        points BIGINT,
        lifetime_points BIGINT,
        digest TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS customers_loyalty_id ON customers (loyalty_id)",
    "CREATE INDEX IF NOT EXISTS customers_email_hash ON customers (email_hash)",
    "CREATE INDEX IF NOT EXISTS customers_phone_hash ON customers (phone_hash)",
    """CREATE TABLE IF NOT EXISTS orders (
        number TEXT PRIMARY KEY,
        customer_id TEXT,
        channel TEXT NOT NULL,
        fulfilment TEXT NOT NULL,
        status TEXT NOT NULL,
        pickup_store_id TEXT,
        placed_at TEXT NOT NULL,
        fulfilled_at TEXT,
        currency TEXT NOT NULL,
        total_minor BIGINT NOT NULL,
        payment_method TEXT NOT NULL,
        digest TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id, placed_at)",
    """CREATE TABLE IF NOT EXISTS order_lines (
        number TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        gtin TEXT NOT NULL,
        sku TEXT NOT NULL,
        name TEXT NOT NULL,
        category TEXT,
        colour TEXT,
        size TEXT,
        quantity INTEGER NOT NULL,
        unit_price_minor BIGINT NOT NULL,
        final_sale INTEGER NOT NULL,
        PRIMARY KEY (number, line_no)
    )""",
    # Stores the centre has told about a customer (feed or look-up): their updates go there.
    """CREATE TABLE IF NOT EXISTS customer_stores (
        customer_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        since TEXT NOT NULL,
        PRIMARY KEY (customer_id, store_id)
    )""",
    # Returns seen from every store, per order line (sync.central.conflicts): the one
    # place where a line returned at two stores while offline shows up.
    """CREATE TABLE IF NOT EXISTS returned_lines (
        order_number TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        ordered_quantity INTEGER,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (order_number, line_no)
    )""",
    """CREATE TABLE IF NOT EXISTS line_returns (
        order_number TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        store_id TEXT NOT NULL,
        return_id TEXT NOT NULL,
        sku TEXT NOT NULL,
        quantity INTEGER NOT NULL,
        refund_minor BIGINT NOT NULL,
        currency TEXT NOT NULL,
        returned_at TEXT NOT NULL,
        PRIMARY KEY (order_number, line_no, store_id, return_id)
    )""",
    """CREATE TABLE IF NOT EXISTS return_conflicts (
        conflict_id TEXT PRIMARY KEY,
        order_number TEXT NOT NULL,
        line_no INTEGER NOT NULL,
        sku TEXT NOT NULL,
        ordered_quantity INTEGER NOT NULL,
        returned_quantity INTEGER NOT NULL,
        currency TEXT NOT NULL,
        stores TEXT NOT NULL,
        detail TEXT NOT NULL,
        detected_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS return_resolutions (
        conflict_id TEXT NOT NULL,
        store_id TEXT NOT NULL,
        resolved_at TEXT NOT NULL,
        staff_id TEXT NOT NULL,
        note TEXT NOT NULL,
        returned_quantity INTEGER NOT NULL,
        PRIMARY KEY (conflict_id, store_id)
    )""",
    *STOCK_SCHEMA,
)

# Long enough to ride out another worker's commit on the same SQLite file.
SQLITE_BUSY_TIMEOUT_MS = 10000


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


class CentralDb:
    """One connection (a connection belongs to one thread; open one per thread)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = is_postgres(url)
        try:
            if self.postgres:
                import psycopg

                self._conn: Any = psycopg.connect(url, autocommit=True)
            else:
                path = _path(url)
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                # FULL: an event the centre acked must survive a power cut at the centre.
                conn.execute("PRAGMA synchronous = FULL")
                self._conn = conn
        except Exception as exc:
            raise SyncError(f"cannot open the centre's database {_redact(url)}: {exc}") from None

    def create_schema(self) -> None:
        with self.transaction():
            for statement in SCHEMA:
                self.execute(statement)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if not self.postgres:
            sql = sql.replace("%s", "?")
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """One statement over many rows (one round trip per batch on PostgreSQL);
        returns the rows changed in all."""
        if not self.postgres:
            return self._conn.executemany(sql.replace("%s", "?"), rows).rowcount
        with self._conn.cursor() as cursor:
            cursor.executemany(sql, rows)
            return cursor.rowcount

    def stream(self, sql: str, params: Sequence[Any] = (), batch: int = 10_000) -> Iterator[Any]:
        """Rows of a big SELECT a batch at a time (a server-side cursor on PostgreSQL:
        inside a transaction), so millions of rows are never held at once."""
        if not self.postgres:
            yield from self._conn.execute(sql.replace("%s", "?"), params)
            return
        with self._conn.cursor(name=f"stream_{id(self):x}") as cursor:
            cursor.execute(sql, params)
            # fetchmany, not iteration: psycopg hands over a batch at C speed.
            while rows := cursor.fetchmany(batch):
                yield from rows

    @contextmanager
    def copy(self, sql: str) -> Iterator[Any]:
        """PostgreSQL's COPY ... FROM STDIN: the fastest way in for many rows."""
        with self._conn.cursor() as cursor, cursor.copy(sql) as copy:
            yield copy

    @contextmanager
    def transaction(self) -> Iterator[CentralDb]:
        if self.postgres:
            with self._conn.transaction():  # nested: a savepoint
                yield self
            return
        if self._conn.in_transaction:
            # Nested (e.g. record_change inside a whole-file load): a savepoint, so the
            # outer transaction still commits or rolls back everything together.
            self._conn.execute("SAVEPOINT nested")
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK TO nested")
                self._conn.execute("RELEASE nested")
                raise
            self._conn.execute("RELEASE nested")
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


def _path(url: str) -> Path:
    """`sqlite:///abs/path`, `sqlite://rel/path` or a plain path."""
    if url.startswith("sqlite://"):
        return Path(url[len("sqlite://") :])
    return Path(url)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
