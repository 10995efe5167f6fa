"""The centre's stock tables (see sync.central.stock), created with the rest of its schema."""

STOCK_SCHEMA = (
    # Stores of the chain and where they are: "nearest first" is measured from here.
    """CREATE TABLE IF NOT EXISTS stores (
        store_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        latitude DOUBLE PRECISION,
        longitude DOUBLE PRECISION,
        updated_at TEXT NOT NULL
    )""",
    # The centre's figure per store and GTIN, as of a time. `pending`: moved since the
    # store was last told (flush_stock sends it and clears the mark).
    """CREATE TABLE IF NOT EXISTS stock_levels (
        store_id TEXT NOT NULL,
        gtin TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        as_of TEXT NOT NULL,
        pending INTEGER NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (store_id, gtin)
    )""",
    "CREATE INDEX IF NOT EXISTS stock_levels_gtin ON stock_levels (gtin)",
    "CREATE INDEX IF NOT EXISTS stock_levels_pending ON stock_levels (store_id) WHERE pending = 1",
    # Delta files and HTTP batches already applied: a movement counts once.
    """CREATE TABLE IF NOT EXISTS stock_batches (
        batch_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        rows BIGINT NOT NULL,
        loaded_at TEXT NOT NULL
    )""",
)
