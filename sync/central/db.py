"""The centre's database: PostgreSQL (psycopg 3) given a URL, SQLite by default.

One small adapter so the ingest writes the same SQL to both: statements use `%s`
placeholders and ON CONFLICT, which both dialects understand. The schema itself is made
by numbered migrations (sync.central.schema, sync/central/migrations).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.central.errors import CentralError

log = logging.getLogger(__name__)


class DatabaseUnavailable(CentralError):
    """The centre's database cannot be reached or opened right now."""

    code = "database_unavailable"


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
                path = sqlite_path(url)
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                # FULL: an event the centre acked must survive a power cut at the centre.
                conn.execute("PRAGMA synchronous = FULL")
                self._conn = conn
        except Exception as exc:
            raise DatabaseUnavailable(
                f"cannot open the centre's database {redact(url)}: {exc}"
            ) from None

    def create_schema(self) -> None:
        """Bring the database to this centre's newest schema revision (numbered
        migrations under a lock, sync.central.schema); one query when it is current."""
        from sync.central.schema import ensure_current

        ensure_current(self)

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

    def insert_rows(
        self,
        insert: str,
        types: Sequence[str],
        rows: Sequence[Sequence[Any]],
        tail: str = "",
        tail_params: Sequence[Any] = (),
    ) -> None:
        """`insert` ("INSERT INTO t (columns)") of every row in `rows`, then `tail` (an
        ON CONFLICT clause, with `tail_params`). On PostgreSQL one statement whatever the
        number of rows, the columns as arrays of `types` taken in row order: row by row
        (pipelined), a commit of many devices cost the server more than its events'
        COPY. Row by row on SQLite."""
        if not rows:
            return
        if self.postgres:
            arrays = ", ".join(f"%s::{name}[]" for name in types)
            columns = [list(column) for column in zip(*rows, strict=True)]
            self.execute(f"{insert} SELECT * FROM unnest({arrays}){tail}", [*columns, *tail_params])
            return
        values = ", ".join("%s" for _ in types)
        rows = [(*row, *tail_params) for row in rows]
        self.executemany(f"{insert} VALUES ({values}){tail}", rows)

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

    @property
    def broken(self) -> bool:
        """True once the server side is gone (PostgreSQL restarted, backend terminated):
        the connection must be replaced, not retried."""
        return bool(self.postgres and (self._conn.broken or self._conn.closed))

    def close(self) -> None:
        self._conn.close()


def close_quietly(db: CentralDb | None) -> None:
    """Close `db` if there is one; a connection the server already dropped may fail to
    close, which changes nothing for a caller about to reconnect or stop."""
    if db is None:
        return
    try:
        db.close()
    except Exception:
        log.debug("closing a broken connection failed", exc_info=True)


# Values named in one `IN (...)` list (SQLite allows 32,766 parameters, PostgreSQL 65,535).
IN_LIST_MAX = 500


def in_lists(values: Sequence[Any]) -> Iterator[tuple[Sequence[Any], str]]:
    """`values` in slices small enough for one statement, each with its placeholders
    ("%s, %s, ...") for an `IN (...)` list."""
    for start in range(0, len(values), IN_LIST_MAX):
        chunk = values[start : start + IN_LIST_MAX]
        yield chunk, ", ".join("%s" for _ in chunk)


def sqlite_path(url: str) -> Path:
    """`sqlite:///abs/path`, `sqlite://rel/path` or a plain path."""
    if url.startswith("sqlite://"):
        return Path(url[len("sqlite://") :])
    return Path(url)


def redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
