from edge_agent.migrations import CORE_SCHEMA, MIGRATIONS, WALLET_SCHEMA, schema_version
from edge_agent.store import Store


def test_wallet_step_upgrades_a_version_1_database_and_keeps_its_passes(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = Store.open(path, migrations=(CORE_SCHEMA,))
    with old.transaction() as db:
        db.execute(
            "INSERT INTO passes (serial, kind, platform, issued_at)"
            " VALUES ('LOLD', 'loyalty', 'apple', '2026-01-01T00:00:00.000000Z')"
        )
    old.close()
    store = Store.open(path, migrations=MIGRATIONS)
    try:
        assert schema_version(store.db) == MIGRATIONS[-1].version
        applied = {r[0] for r in store.db.execute("SELECT version FROM schema_migrations")}
        assert WALLET_SCHEMA.version in applied
        assert store.db.execute("SELECT serial FROM passes").fetchall() == [("LOLD",)]
        tables = set(store.db.table_names())
        assert {"pass_revocations", "pass_sightings", "loyalty_conflicts"} <= tables
        # Issuing moved to the centre (migration 9): the store-side tables are gone.
        assert not {"apple_passes", "apple_registrations", "apns_push_queue"} & tables
        assert store.db.execute("SELECT on_device FROM passes").fetchall() == [(0,)]
    finally:
        store.close()
