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
    # store was last told (flush_stock sends it and clears the mark); `load_id`: the
    # file load that last wrote it (that load tells the store itself). Keyed GTIN first:
    # "who has these GTINs" is the query a till waits for; the per-store work (a
    # snapshot's zeroing, a store's pending levels) is bulk or goes by the small index.
    """CREATE TABLE IF NOT EXISTS stock_levels (
        store_id TEXT NOT NULL,
        gtin TEXT NOT NULL,
        quantity BIGINT NOT NULL,
        as_of TEXT NOT NULL,
        pending INTEGER NOT NULL,
        load_id BIGINT NOT NULL,
        PRIMARY KEY (gtin, store_id)
    )""",
    "CREATE INDEX IF NOT EXISTS stock_levels_pending ON stock_levels (store_id) WHERE pending = 1",
    # Delta files and HTTP batches already applied: a movement counts once.
    """CREATE TABLE IF NOT EXISTS stock_batches (
        batch_id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        rows BIGINT NOT NULL,
        loaded_at TEXT NOT NULL
    )""",
)
