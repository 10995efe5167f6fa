import sqlite3
import threading

import pytest

from edge_agent.errors import StoreError
from edge_agent.migrations import MIGRATIONS, Migration, schema_version
from edge_agent.store import Store

EXPECTED_TABLES = {
    "customers",
    "loyalty_accounts",
    "passes",
    "products",
    "orders",
    "order_lines",
    "returns",
    "return_lines",
    "pickups",
    "shopping_lists",
    "shopping_list_items",
    "scan_log",
    "outbox",
    "inbox_feeds",
    "dead_letters",
    "agent_meta",
    "schema_migrations",
}


def test_new_database_has_schema_wal_and_full_sync(tmp_path):
    store = Store.open(tmp_path / "a.sqlite3")
    try:
        assert set(store.db.table_names()) >= EXPECTED_TABLES
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert schema_version(store.db) == MIGRATIONS[-1].version
    finally:
        store.close()


def test_reopening_does_not_migrate_twice_and_keeps_data(tmp_path):
    path = tmp_path / "a.sqlite3"
    store = Store.open(path)
    store.set_meta("k", "v")
    store.close()
    store = Store.open(path)
    try:
        assert store.meta("k") == "v"
        rows = store.db.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]
        assert rows == len(MIGRATIONS)
    finally:
        store.close()


def test_upgrade_applies_only_new_steps_and_keeps_rows(tmp_path):
    path = tmp_path / "a.sqlite3"
    Store.open(path).close()
    store = Store.open(path)
    store.set_meta("before", "upgrade")
    store.close()
    step = Migration(
        MIGRATIONS[-1].version + 1, "add note", ("ALTER TABLE customers ADD COLUMN note TEXT",)
    )
    store = Store.open(path, (*MIGRATIONS, step))
    try:
        assert schema_version(store.db) == step.version
        assert "note" in store.db["customers"].columns_dict
        assert store.meta("before") == "upgrade"
    finally:
        store.close()


def test_failed_step_rolls_back_whole_step(tmp_path):
    path = tmp_path / "a.sqlite3"
    Store.open(path).close()
    bad = Migration(
        MIGRATIONS[-1].version + 1,
        "half done",
        (
            "CREATE TABLE half (x INTEGER)",
            "THIS IS NOT SQL",
        ),
    )
    with pytest.raises(StoreError, match="rolled back"):
        Store.open(path, (*MIGRATIONS, bad))
    store = Store.open(path)
    try:
        assert "half" not in store.db.table_names()
        assert schema_version(store.db) == MIGRATIONS[-1].version
    finally:
        store.close()


def test_database_from_newer_agent_is_refused(tmp_path):
    path = tmp_path / "a.sqlite3"
    future = Migration(99, "future", ("CREATE TABLE future (x INTEGER)",))
    Store.open(path, (*MIGRATIONS, future)).close()
    with pytest.raises(StoreError, match="newer agent"):
        Store.open(path)


def test_file_that_is_not_sqlite_is_refused_clearly(tmp_path):
    path = tmp_path / "a.sqlite3"
    path.write_bytes(b"this is a text file, not a database" * 100)
    with pytest.raises(StoreError, match="file is not a database"):
        Store.open(path)


def test_transaction_rolls_back_everything_on_error(tmp_path):
    store = Store.open(tmp_path / "a.sqlite3")
    try:
        with pytest.raises(RuntimeError), store.transaction() as db:
            db.execute("INSERT INTO agent_meta (key, value) VALUES ('a', '1')")
            with store.transaction() as inner:
                inner.execute("INSERT INTO agent_meta (key, value) VALUES ('b', '2')")
            raise RuntimeError("till crashed mid-way")
        assert store.db.execute("SELECT COUNT(*) FROM agent_meta").fetchone()[0] == 0
    finally:
        store.close()


def test_full_disk_is_a_clear_error_and_keeps_earlier_data(tmp_path):
    store = Store.open(tmp_path / "a.sqlite3")
    try:
        store.set_meta("kept", "yes")
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own "database or disk is full" path, as on a full SD card.
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError, match="disk is full"), store.transaction() as db:
            db.execute("INSERT INTO agent_meta (key, value) VALUES ('big', ?)", ["x" * 100_000])
        assert store.meta("kept") == "yes"
        assert store.meta("big") is None
    finally:
        store.close()


def test_each_thread_gets_its_own_connection_and_no_update_is_lost(tmp_path):
    store = Store.open(tmp_path / "a.sqlite3")
    store.set_meta("counter", "0")
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            for _ in range(50):
                with store.transaction() as db:
                    value = int(
                        db.execute("SELECT value FROM agent_meta WHERE key = 'counter'").fetchone()[
                            0
                        ]
                    )
                    db.execute(
                        "UPDATE agent_meta SET value = ? WHERE key = 'counter'", [str(value + 1)]
                    )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert store.meta("counter") == "200"
    finally:
        store.close()


def test_closed_store_refuses_new_connections(tmp_path):
    store = Store.open(tmp_path / "a.sqlite3")
    store.close()
    result: list[BaseException] = []
    t = threading.Thread(target=lambda: result.append(_try(lambda: store.db)))
    t.start()
    t.join()
    assert isinstance(result[0], StoreError)


def _try(fn):
    try:
        fn()
    except BaseException as exc:
        return exc
    return None


def test_constraints_guard_money_and_quantities(tmp_path):
    store = Store.open(tmp_path / "a.sqlite3")
    try:
        with pytest.raises(sqlite3.IntegrityError), store.transaction() as db:
            db.execute(
                "INSERT INTO products (gtin, sku, name, category, price_minor, currency,"
                " updated_at) VALUES ('1', 's', 'n', 'c', -5, 'EUR', 'now')"
            )
    finally:
        store.close()


def test_a_step_merged_late_still_runs(tmp_path):
    path = tmp_path / "a.sqlite3"
    late = Migration(MIGRATIONS[0].version + 100, "late", ("CREATE TABLE late_b (x INTEGER)",))
    early_gap = Migration(late.version - 50, "gap", ("CREATE TABLE early_a (x INTEGER)",))
    Store.open(path, (*MIGRATIONS, late)).close()
    store = Store.open(path, (*MIGRATIONS, early_gap, late))
    try:
        assert {"late_b", "early_a"} <= set(store.db.table_names())
    finally:
        store.close()
