"""The centre's schema: numbered migrations applied once under a lock, however many
workers start at the same instant; a database from a newer centre refused."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from edge_agent.context import AgentContext, open_agent
from sync.central import schema
from sync.central.schema import SchemaBehind, SchemaTooNew, head_revision, migrate
from tests.sync.centre_workers import start_workers
from tests.sync.conftest import EDGE_CENTRAL, add_events, backlog, free_port, sync_config, wait_for
from tests.sync.postgres import rows


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'central.sqlite3'}"
    return request.getfixturevalue("postgres_url")


def version_rows(url: str) -> list[tuple]:
    if url.startswith("sqlite://"):
        with sqlite3.connect(url[len("sqlite://") :]) as conn:
            return conn.execute("SELECT version_num FROM alembic_version").fetchall()
    return rows(url, "SELECT version_num FROM alembic_version")


def set_revision(url: str, revision: str) -> None:
    sql = f"UPDATE alembic_version SET version_num = '{revision}'"
    if url.startswith("sqlite://"):
        with sqlite3.connect(url[len("sqlite://") :]) as conn:
            conn.execute(sql)
    else:
        with psycopg.connect(url) as conn:
            conn.execute(sql)


def central(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EDGE_CENTRAL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_migrations_apply_once_and_record_the_revision(any_db_url):
    first = migrate(any_db_url)
    again = migrate(any_db_url)
    assert (first.before, first.after) == (None, head_revision())
    assert (again.before, again.after, again.changed) == (head_revision(), head_revision(), False)
    assert version_rows(any_db_url) == [(head_revision(),)]


def test_every_revision_downgrades_and_upgrades_again(any_db_url):
    from alembic import command

    migrate(any_db_url)
    engine = schema._engine(any_db_url)
    with engine.connect() as conn, conn.begin():
        config = schema._config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    engine.dispose()
    assert schema.current_revision(any_db_url) is None
    assert migrate(any_db_url).changed


def test_migrators_started_at_the_same_instant_all_succeed(any_db_url):
    count = 8 if any_db_url.startswith("postgresql") else 4
    start = threading.Barrier(count)
    results: list[object] = []

    def one() -> None:
        start.wait()
        try:
            results.append(migrate(any_db_url))
        except Exception as exc:  # collected: the assertion below names it
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(r, schema.Migration) for r in results), results
    assert len(results) == count
    assert sum(r.changed for r in results) == 1  # one applied it, the others found it done
    assert version_rows(any_db_url) == [(head_revision(),)]


def test_database_from_a_newer_centre_is_refused(any_db_url):
    migrate(any_db_url)
    set_revision(any_db_url, "9999")
    with pytest.raises(SchemaTooNew, match="newer edge-central"):
        migrate(any_db_url)
    broker = f"mqtt://127.0.0.1:{free_port()}"
    worker = central("run", "--broker", broker, "--db", any_db_url, "--worker-id", "w-old")
    assert worker.returncode == 1
    assert "revision 9999" in worker.stderr and "newer edge-central" in worker.stderr
    assert "ready" not in worker.stdout
    assert version_rows(any_db_url) == [("9999",)]  # left as the newer centre made it


def test_db_commands_check_migrate_and_report(tmp_path):
    url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    behind = central("db", "check", "--db", url)
    assert behind.returncode == 1
    assert "edge-central db migrate" in behind.stderr
    with pytest.raises(SchemaBehind):
        schema.check(url)
    done = central("db", "migrate", "--db", url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"migrated from an empty database to {head_revision()}"
    assert central("db", "migrate", "--db", url).stdout.strip() == f"already at {head_revision()}"
    assert central("db", "check", "--db", url).returncode == 0
    current = central("db", "current", "--db", url).stdout.split()
    assert current == ["database:", head_revision(), "centre:", head_revision()]


def test_database_made_before_migrations_is_adopted(tmp_path):
    path = tmp_path / "central.sqlite3"
    with sqlite3.connect(path) as conn:  # what the centre created before it had migrations
        conn.execute(
            "CREATE TABLE events (event_id TEXT PRIMARY KEY, store_id TEXT NOT NULL,"
            " source TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL,"
            " time TEXT NOT NULL, envelope TEXT NOT NULL, received_at TEXT NOT NULL)"
        )
        conn.execute("INSERT INTO events VALUES ('e1', 's', '/stores/s/devices/d', 1, 't', 'x',"
                     " '{}', '2026-01-01T00:00:00Z')")  # fmt: skip
    migrate(f"sqlite://{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT event_id FROM events").fetchall() == [("e1",)]
        assert conn.execute("SELECT COUNT(*) FROM sources").fetchone() == (0,)


@pytest.fixture
def two_stores(tmp_path: Path, broker) -> Iterator[list[AgentContext]]:
    """Listed before sync_factory in a test, so the stores close after its services stop."""
    stores = [open_agent(sync_config(tmp_path / s, broker.url, store_id=s)) for s in ("s1", "s2")]
    yield stores
    for ctx in stores:
        ctx.store.close()


def test_four_workers_started_together_on_an_empty_postgres_all_ingest(
    tmp_path: Path, postgres_url, broker, two_stores, sync_factory
):
    workers = start_workers(4, tmp_path / "workers", broker.url, postgres_url)
    stores = two_stores
    try:
        for worker in workers:
            worker.wait_ready()
        for ctx in stores:
            add_events(ctx, 1500)
            sync_factory(ctx)
        for ctx in stores:
            wait_for(lambda ctx=ctx: backlog(ctx) == 0, "both stores fully acked")
        codes = [worker.terminate() for worker in workers]
    finally:
        for worker in workers:
            worker.kill9()
    assert codes == [0, 0, 0, 0]
    inserted = [worker.inserted() for worker in workers]
    assert all(n > 0 for n in inserted), inserted  # every worker took a share
    assert sum(inserted) == 3000
    assert rows(postgres_url, "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events") == [
        (3000, 3000)
    ]
    assert rows(postgres_url, "SELECT store_id, contiguous_seq FROM sources ORDER BY 1") == [
        ("s1", 1500),
        ("s2", 1500),
    ]


def test_revisions_form_one_numbered_chain():
    # Two branches that each add "the next" revision must be renumbered when merged:
    # Alembic would otherwise see two heads and no centre could start.
    scripts = schema._scripts()
    assert len(scripts.get_heads()) == 1
    chain = list(reversed(list(scripts.walk_revisions())))
    assert [s.revision for s in chain] == [f"{n:04d}" for n in range(1, len(chain) + 1)]
    for script in chain:
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path
