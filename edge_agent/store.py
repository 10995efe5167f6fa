"""The agent's one SQLite file: connections, transactions, small metadata.

An sqlite3 connection belongs to the thread that opened it, and the web server answers
from several threads, so `Store.db` hands every thread its own connection to the same
file. Writes go through `Store.transaction()`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from edge_agent.errors import StoreError
from edge_agent.migrations import MIGRATIONS, Migration, migrate

# Long enough to ride out another thread's commit (fsync on an SD card can take tens
# of ms), short enough that a till request never hangs on a stuck writer.
BUSY_TIMEOUT_MS = 5000


class Store:
    """The local database. Open with `Store.open(path)`; close once at shutdown."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        # Each connection with the thread that opened it (the only one that uses it).
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: str | Path, migrations: tuple[Migration, ...] = MIGRATIONS) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        store = cls(Path(path))
        try:
            store.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data directory {store.path.parent}: {exc}") from None
        db = store.db
        try:
            with db.ensure_autocommit_on():
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            store.close()
            raise StoreError(f"{store.path} is not a usable SQLite database: {exc}") from None
        if mode != "wal":
            store.close()
            raise StoreError(f"{store.path}: cannot switch to WAL journal (got {mode!r})")
        try:
            migrate(db, migrations)
        except Exception:
            store.close()
            raise
        return store

    @property
    def db(self) -> Database:
        """This thread's connection, opened on first use."""
        if self._closed:
            raise StoreError("the store is closed (the agent is shutting down)")
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction: everything inside commits together or not at all.

        Starts with BEGIN IMMEDIATE: a deferred BEGIN that reads and then writes can fail
        with SQLITE_BUSY (no retry) when another till committed in between; IMMEDIATE
        takes the write lock up front and waits for it under the busy timeout instead.
        Nested calls become savepoints through sqlite-utils' `atomic()`, so an inner
        failure the caller catches undoes only the inner part.
        """
        db = self.db
        if db.conn.in_transaction:
            with db.atomic():
                yield db
            return
        # BEGIN and COMMIT on the raw connection: sqlite-utils' execute() wrapper would
        # add Python work to every durable write for nothing.
        try:
            db.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _store_error(exc) from exc
        try:
            # The outer level commits or rolls back itself; a savepoint here (sqlite-utils'
            # atomic() inside an open transaction) would only cost two statements per write.
            yield db
            db.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            db.rollback()
            raise _store_error(exc) from exc
        except BaseException:
            db.rollback()
            raise

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM agent_meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO agent_meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )

    def close(self) -> None:
        """Close the store: no thread gets a connection from it any more. Call after the
        threads using it have stopped; their connections and this thread's are closed."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        me = threading.current_thread()
        for owner, conn in connections:
            if owner is not me and owner.is_alive():
                # Closing a connection under another thread's running query can crash
                # the process (seen in CI: a sync thread a test never stopped). The
                # store refuses that thread from now on; its connection closes when the
                # thread ends and its thread-local goes.
                continue
            # a connection already broken has nothing left to flush
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _connect(self) -> Database:
        try:
            # check_same_thread=False only so close() can run from the main thread at
            # shutdown; during operation each connection is used by its own thread only.
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # FULL: a commit the till was told about survives a power cut (WAL + NORMAL
            # could lose the last transactions, and those are receipts and returns).
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open database {self.path}: {exc}") from None
        with self._lock:
            self._connections.append((threading.current_thread(), conn))
        return Database(conn)


def _store_error(exc: sqlite3.OperationalError) -> StoreError:
    text = str(exc)
    if "disk is full" in text or "disk I/O" in text:
        return StoreError(
            "the device's disk is full or failing, nothing was saved; free space on the "
            "agent's data disk and try again"
        )
    if "locked" in text or "busy" in text:
        return StoreError("the local database is busy; try again in a moment")
    return StoreError(f"the local database refused the write: {text}")
