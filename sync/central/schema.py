"""The centre's schema version: numbered Alembic revisions (sync/central/migrations)
applied once, under a lock, by whichever worker or `edge-central db migrate` gets there
first; every other one waits on the lock, then finds the schema current.

Locks: PostgreSQL, a transaction-level advisory lock taken before anything is read, so
the whole upgrade is one transaction (PostgreSQL's DDL is transactional) and the lock
goes with its commit; SQLite, `BEGIN IMMEDIATE` (the database's write lock).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.central.db import CentralDb, is_postgres, redact, sqlite_path
from sync.central.errors import CentralError

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock's key: any constant no other application on the same database
# uses; these are the bytes "edgectr1".
MIGRATION_LOCK_KEY = int.from_bytes(b"edgectr1", "big") - 2**63
# A worker waiting for another to finish migrating waits this long on SQLite's lock.
SQLITE_LOCK_WAIT_SECONDS = 120


class SchemaError(CentralError):
    """The centre's database schema cannot be used by this centre."""

    code = "schema_unusable"


class SchemaTooNew(SchemaError):
    """The database was migrated by a newer centre; this one must not write to it."""

    code = "schema_too_new"


class SchemaBehind(SchemaError):
    """The database lacks migrations this centre needs (`edge-central db migrate`)."""

    code = "schema_behind"


@dataclass(frozen=True)
class Migration:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def head_revision() -> str:
    """The newest revision this centre knows."""
    head = _scripts().get_current_head()
    assert head is not None, "the centre ships at least one migration"
    return head


def migrate(url: str) -> Migration:
    """Bring the database at `url` to this centre's newest revision, under the lock.
    Refuses (SchemaTooNew) a database a newer centre has migrated."""
    from alembic import command

    engine = _engine(url)
    try:
        with engine.connect() as conn:
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    from sqlalchemy import text

                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                before = _revision_on(conn)
                _refuse_unknown(url, before)
                if before != head_revision():
                    config = _config()
                    config.attributes["connection"] = conn
                    command.upgrade(config, "head")
            done = Migration(before, _revision_on(conn) or "")
    except SchemaError:
        raise
    except Exception as exc:
        raise SchemaError(f"cannot migrate the centre's database {redact(url)}: {exc}") from None
    finally:
        engine.dispose()
    if done.changed:
        log.info("centre database migrated from %s to %s", done.before or "empty", done.after)
    return done


def current_revision(url: str) -> str | None:
    """The revision recorded in the database (None: never migrated)."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return _revision_on(conn)
    except Exception as exc:
        raise SchemaError(f"cannot read the centre's database {redact(url)}: {exc}") from None
    finally:
        engine.dispose()


def check(url: str) -> str:
    """The database's revision if it is this centre's newest; else SchemaBehind or
    SchemaTooNew, saying what to do."""
    revision = current_revision(url)
    _refuse_unknown(url, revision)
    if revision != head_revision():
        raise SchemaBehind(
            f"the centre's database {redact(url)} is at revision {revision or 'none'},"
            f" this centre needs {head_revision()}: run `edge-central db migrate`"
        )
    return revision


def ensure_current(db: CentralDb) -> None:
    """Migrate `db`'s database unless it is already at the newest revision (one query
    on the way in: the fast path for every command and request)."""
    try:
        row = db.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
    except Exception:
        row = None  # never migrated (no version table yet)
    if row is None or row[0] != head_revision():
        migrate(db.url)


def _refuse_unknown(url: str, revision: str | None) -> None:
    if revision is not None and revision not in _known_revisions():
        raise SchemaTooNew(
            f"the centre's database {redact(url)} is at revision {revision}, which this"
            f" centre (newest revision {head_revision()}) does not know: a newer edge-central"
            " migrated it; run that version, or upgrade this one"
        )


def _revision_on(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


@functools.cache
def _known_revisions() -> frozenset[str]:
    return frozenset(s.revision for s in _scripts().walk_revisions())


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def _config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _engine(url: str) -> Engine:
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import NullPool

    if is_postgres(url):
        return create_engine("postgresql+psycopg://" + url.split("://", 1)[1], poolclass=NullPool)
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path.resolve()}",
        poolclass=NullPool,
        connect_args={"timeout": SQLITE_LOCK_WAIT_SECONDS},
    )

    # SQLAlchemy's documented recipe for SQLite transactions: stop the driver's own
    # BEGIN handling and emit ours. IMMEDIATE takes the write lock at once, so two
    # migrators take turns instead of both reading "not migrated".
    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
