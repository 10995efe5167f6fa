"""Stock at the centre: how many of each GTIN each store holds, where the stores are,
and each store's own levels sent down its change feed.

Levels come from `edge-central load` (snapshots and deltas, `sync.central.stockfile`),
from the inventory system's HTTP stream (`sync.central.stock_api`) and from orders
requested at a till (`reserve`). Every write marks the level `pending`; `flush_stock`
then records one `stock.levels` change per store for everything pending there, so a
store gets its levels coalesced (a burst of sales is one change, not one per sale).
`stock_elsewhere` answers a store's "who else has it", nearest stores first.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sync.central.changes import append_change, feed_head
from sync.central.db import CentralDb
from sync.central.masterfile import MasterFileError
from sync.central.stockfile import MAX_QUANTITY, StockFile, StockRow, StoreRecord
from sync.protocol.stock import ELSEWHERE_STORES_MAX, LEVELS_PER_CHANGE, STOCK_LEVELS

# Rows written to the staging table per COPY chunk / executemany call.
CHUNK_ROWS = 5000
# PostgreSQL advisory lock key: one flusher at a time, so two workers never number the
# same store's changes at once.
FLUSH_LOCK_KEY = 0x5E0C
EARTH_RADIUS_KM = 6371.0
NULL = "\\N"  # COPY's text format for a missing value

_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS stock_incoming (row_no BIGINT NOT NULL,"
    " store_id TEXT NOT NULL, gtin TEXT NOT NULL, amount BIGINT NOT NULL, as_of TEXT)"
)
_STAGED = "row_no, store_id, gtin, amount, as_of"
# A newer figure replaces the level; the same figure again changes nothing. `pending`
# and `load_id` say who tells the store: the flusher (pending = 1), or the load that
# wrote it, which reads back its own rows by load_id (a bulk load would pay twice to
# mark and then clear millions of rows).
_UPSERT_LEVELS = (
    "INSERT INTO stock_levels (store_id, gtin, quantity, as_of, pending, load_id)"
    " {select} ON CONFLICT (gtin, store_id) DO UPDATE SET quantity = excluded.quantity,"
    " as_of = excluded.as_of, pending = excluded.pending, load_id = excluded.load_id"
    " WHERE stock_levels.as_of < excluded.as_of OR (stock_levels.as_of = excluded.as_of"
    " AND stock_levels.quantity <> excluded.quantity)"
)
# A movement adds to whatever the level is; the level's time is the newest seen.
_ADD_DELTAS = (
    "INSERT INTO stock_levels (store_id, gtin, quantity, as_of, pending, load_id)"
    " {select} ON CONFLICT (gtin, store_id) DO UPDATE SET"
    " quantity = stock_levels.quantity + excluded.quantity,"
    " as_of = CASE WHEN excluded.as_of > stock_levels.as_of THEN excluded.as_of"
    " ELSE stock_levels.as_of END, pending = excluded.pending, load_id = excluded.load_id"
)
SORT_MEMORY = "256MB"
_VALUES = "VALUES (%s, %s, %s, %s, %s, %s)"
# PostgreSQL's "ON CONFLICT DO UPDATE command cannot affect row a second time", and a
# duplicate key.
CARDINALITY_VIOLATION = "21000"
UNIQUE_VIOLATION = "23505"


@dataclass
class StockLoadResult:
    rows: int = 0
    changed: int = 0  # levels that moved (snapshot: replaced or zeroed; deltas: added)
    already_loaded: bool = False  # a delta file or batch seen before: nothing applied
    changes: list[tuple[str, bytes]] = field(default_factory=list)  # (store, message)


def load_stores(db: CentralDb, stores: list[StoreRecord], now: str) -> int:
    """Add or update stores (name, location); returns how many were written."""
    with db.transaction():
        return db.executemany(
            "INSERT INTO stores (store_id, name, latitude, longitude, updated_at)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (store_id) DO UPDATE SET"
            " name = excluded.name, latitude = excluded.latitude,"
            " longitude = excluded.longitude, updated_at = excluded.updated_at",
            [(s.store_id, s.name, s.latitude, s.longitude, now) for s in stores],
        )


def load_stock(db: CentralDb, stock: StockFile, now: str) -> StockLoadResult:
    """Apply a stock file and record the stores' changes, in one transaction: a bad row
    anywhere (MasterFileError) leaves the centre as it was."""
    result = StockLoadResult()
    load_id = secrets.randbits(62)
    with db.transaction():
        if stock.kind == "delta" and not _first_time(db, f"file:{stock.digest}", stock, now):
            result.already_loaded = True
            return result
        result.rows = _stage(db, stock.rows())
        if db.postgres:
            # The planner needs the staged file's size to join it well, and the sorts
            # below room to stay in memory (this transaction only).
            db.execute("ANALYZE stock_incoming")
            db.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        if stock.kind == "snapshot":
            result.changed = _apply_snapshot(db, stock, result.rows, load_id, now)
        else:
            result.changed = _apply_deltas(db, load_id, now)
        result.changes = _record_loaded(db, load_id) + flush_stock(db)
    return result


def apply_stream(
    db: CentralDb, batch_id: str, levels: list[tuple], deltas: list[tuple], now: str
) -> StockLoadResult:
    """A batch from the inventory system's stream: `levels` (store, gtin, quantity,
    as_of) replace figures, `deltas` (store, gtin, delta, as_of) add to them. Applied
    once per batch id; the stores hear of it at the next flush (coalesced)."""
    result = StockLoadResult(rows=len(levels) + len(deltas))
    with db.transaction():
        inserted = db.execute(
            "INSERT INTO stock_batches (batch_id, source, rows, loaded_at) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (batch_id) DO NOTHING",
            [f"http:{batch_id}", "http", result.rows, now],
        ).rowcount
        if not inserted:
            result.already_loaded = True
            return result
        if levels:
            result.changed += db.executemany(
                _UPSERT_LEVELS.format(select=_VALUES),
                [(s, g, q, a or now, 1, 0) for s, g, q, a in levels],
            )
        if deltas:
            result.changed += db.executemany(
                _ADD_DELTAS.format(select=_VALUES),
                [(s, g, d, a or now, 1, 0) for s, g, d, a in deltas],
            )
    return result


def reserve(db: CentralDb, store_id: str, lines: Iterable[tuple[str, int]], now: str) -> None:
    """Take ordered quantities out of a store's figure (inside the caller's transaction):
    an order to collect there is set aside from its shelves."""
    db.executemany(
        _ADD_DELTAS.format(select=_VALUES),
        [(store_id, gtin, -quantity, now, 1, 0) for gtin, quantity in lines],
    )


def flush_stock(db: CentralDb) -> list[tuple[str, bytes]]:
    """Record a `stock.levels` change for every store with pending levels (in chunks of
    LEVELS_PER_CHANGE) and clear the marks; returns (store_id, message) to publish after
    the commit. Inside the caller's transaction, or its own."""
    changes: list[tuple[str, bytes]] = []
    if not db.execute("SELECT 1 FROM stock_levels WHERE pending = 1 LIMIT 1").fetchone():
        return changes  # the usual case: no write transaction, no lock taken
    with db.transaction():
        if (
            db.postgres
            and not db.execute("SELECT pg_try_advisory_xact_lock(%s)", [FLUSH_LOCK_KEY]).fetchone()[
                0
            ]
        ):
            return changes  # another worker is flushing; what is pending waits for the next
        stores = [
            r[0]
            for r in db.execute(
                "SELECT DISTINCT store_id FROM stock_levels WHERE pending = 1 ORDER BY store_id"
            ).fetchall()
        ]
        for store_id in stores:
            levels = db.execute(
                "UPDATE stock_levels SET pending = 0 WHERE store_id = %s AND pending = 1"
                " RETURNING gtin, quantity, as_of",
                [store_id],
            ).fetchall()
            levels.sort()
            for start in range(0, len(levels), LEVELS_PER_CHANGE):
                changes.append(_record(db, store_id, levels[start : start + LEVELS_PER_CHANGE]))
    return changes


def stock_elsewhere(db: CentralDb, asking_store: str, gtins: list[str]) -> list[dict[str, Any]]:
    """The other stores holding any of `gtins`, nearest to `asking_store` first (stores
    without a location last), at most ELSEWHERE_STORES_MAX, in the look-up answer's
    shape (`sync.protocol.stock.StoreStock`)."""
    if not gtins:
        return []
    marks = ", ".join(["%s"] * len(gtins))
    rows = db.execute(
        f"SELECT store_id, gtin, quantity FROM stock_levels WHERE gtin IN ({marks})"
        " AND quantity > 0 AND store_id <> %s",
        [*gtins, asking_store],
    ).fetchall()
    held: dict[str, dict[str, int]] = {}
    for store_id, gtin, quantity in rows:
        held.setdefault(store_id, {})[gtin] = int(quantity)
    if not held:
        return []
    places = _places(db, [asking_store, *held])
    origin = places.get(asking_store)
    here = origin[1] if origin else None
    found = []
    for store_id, levels in held.items():
        name, there = places.get(store_id, (store_id, None))
        distance = _km(here, there) if here and there else None
        found.append((distance is None, distance or 0.0, store_id, name, levels))
    found.sort(key=lambda f: f[:3])
    return [
        {"store_id": sid, "name": name, "distance_km": None if unknown else km,
         "levels": dict(sorted(levels.items()))}
        for unknown, km, sid, name, levels in found[:ELSEWHERE_STORES_MAX]
    ]  # fmt: skip


def _places(db: CentralDb, store_ids: list[str]) -> dict[str, tuple[str, Any]]:
    marks = ", ".join(["%s"] * len(store_ids))
    rows = db.execute(
        f"SELECT store_id, name, latitude, longitude FROM stores WHERE store_id IN ({marks})",
        store_ids,
    ).fetchall()
    return {r[0]: (r[1], (float(r[2]), float(r[3])) if r[2] is not None else None) for r in rows}


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine): good to well under 1 % at city scale."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return round(2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h)), 1)


def _first_time(db: CentralDb, batch_id: str, stock: StockFile, now: str) -> bool:
    return bool(
        db.execute(
            "INSERT INTO stock_batches (batch_id, source, rows, loaded_at) VALUES (%s, %s, 0, %s)"
            " ON CONFLICT (batch_id) DO NOTHING",
            [batch_id, str(stock.path)[-200:], now],
        ).rowcount
    )


def _stage(db: CentralDb, rows: Iterator[StockRow]) -> int:
    """Write the checked rows into this session's staging table; PostgreSQL by COPY."""
    db.execute(_STAGING)
    db.execute("TRUNCATE stock_incoming" if db.postgres else "DELETE FROM stock_incoming")
    count = 0
    if db.postgres:
        with db.copy(f"COPY stock_incoming ({_STAGED}) FROM STDIN") as copy:
            chunk: list[str] = []
            for number, store_id, gtin, amount, as_of in rows:
                # Every value is checked (digits, a store id, a time): nothing to escape.
                chunk.append(f"{number}\t{store_id}\t{gtin}\t{amount}\t{as_of or NULL}\n")
                if len(chunk) == CHUNK_ROWS:
                    copy.write("".join(chunk))
                    count += len(chunk)
                    chunk.clear()
            copy.write("".join(chunk))
            count += len(chunk)
        return count
    batch: list[StockRow] = []
    insert = f"INSERT INTO stock_incoming ({_STAGED}) VALUES (%s, %s, %s, %s, %s)"
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK_ROWS:
            count += db.executemany(insert, batch)
            batch.clear()
    if batch:
        count += db.executemany(insert, batch)
    return count


def _refuse_repeats(db: CentralDb, stock: StockFile) -> None:
    """A snapshot names each (store, GTIN) once; two figures for one are a broken file."""
    row = db.execute(
        "SELECT store_id, gtin, MIN(row_no), MAX(row_no) FROM stock_incoming"
        " GROUP BY store_id, gtin HAVING COUNT(*) > 1 ORDER BY MAX(row_no) LIMIT 1"
    ).fetchone()
    if row is not None:
        store_id, gtin, first, again = row
        where = "row" if stock.path.suffix.lower() == ".csv" else "stock record"
        raise MasterFileError(
            f"{stock.path}: {where} {again}: gtin: {gtin} of store {store_id} is already in"
            f" {where} {first} (a snapshot gives one figure per store and GTIN)"
        )


def _apply_snapshot(db: CentralDb, stock: StockFile, rows: int, load_id: int, now: str) -> int:
    if not db.postgres:
        _refuse_repeats(db, stock)
        db.execute("CREATE INDEX IF NOT EXISTS stock_in_key ON stock_incoming (store_id, gtin)")
    # Levels already held: replaced by a newer figure. Then the new ones, inserted plainly:
    # an upsert (ON CONFLICT) costs twice a plain insert per row, and a first load of a
    # chain is millions of new rows.
    changed = db.execute(
        "UPDATE stock_levels SET quantity = i.amount, as_of = COALESCE(i.as_of, %s),"
        " pending = 0, load_id = %s FROM stock_incoming AS i"
        " WHERE stock_levels.gtin = i.gtin AND stock_levels.store_id = i.store_id"
        " AND (stock_levels.as_of < COALESCE(i.as_of, %s) OR (stock_levels.as_of ="
        " COALESCE(i.as_of, %s) AND stock_levels.quantity <> i.amount))",
        [now, load_id, now, now],
    ).rowcount
    insert = (
        "INSERT INTO stock_levels (store_id, gtin, quantity, as_of, pending, load_id)"
        " SELECT i.store_id, i.gtin, i.amount, COALESCE(i.as_of, %s), 0, %s"
        " FROM stock_incoming AS i WHERE NOT EXISTS (SELECT 1 FROM stock_levels AS l"
        " WHERE l.gtin = i.gtin AND l.store_id = i.store_id)"
    )
    if db.postgres:
        # In key order: a file comes store by store, the key is GTIN first, and ten
        # million inserts at random places in an index bigger than the cache cost a
        # quarter more than sorting them first (measured at 4 M rows).
        insert += " ORDER BY i.gtin, i.store_id"
        # A key the file repeats among new levels fails the insert; only then is the file
        # searched for the rows to name (a GROUP BY over millions of rows otherwise).
        try:
            with db.transaction():
                inserted = db.execute(insert, [now, load_id]).rowcount
        except Exception as exc:
            if getattr(exc, "sqlstate", None) in (UNIQUE_VIOLATION, CARDINALITY_VIOLATION):
                _refuse_repeats(db, stock)
            raise
        if inserted < rows:
            # Some rows met levels already held, where a repeat would pass unseen.
            _refuse_repeats(db, stock)
    else:
        inserted = db.execute(insert, [now, load_id]).rowcount
    changed += inserted
    # What the snapshot leaves out, the store no longer has (unless a newer figure says so).
    # One statement for every store in the file: PostgreSQL joins it as a hash anti-join.
    changed += db.execute(
        "UPDATE stock_levels SET quantity = 0, as_of = f.taken, pending = 0, load_id = %s"
        " FROM (SELECT store_id AS sid, MIN(COALESCE(as_of, %s)) AS taken FROM stock_incoming"
        " GROUP BY store_id) AS f WHERE stock_levels.store_id = f.sid"
        " AND stock_levels.as_of < f.taken AND stock_levels.quantity <> 0"
        " AND stock_levels.load_id <> %s AND NOT EXISTS"
        " (SELECT 1 FROM stock_incoming i WHERE i.store_id = stock_levels.store_id"
        " AND i.gtin = stock_levels.gtin)",
        [load_id, now, load_id],
    ).rowcount
    return changed


def _apply_deltas(db: CentralDb, load_id: int, now: str) -> int:
    return db.execute(
        _ADD_DELTAS.format(
            select="SELECT store_id, gtin, SUM(amount), MAX(COALESCE(as_of, %s)), 0, %s"
            " FROM stock_incoming WHERE true GROUP BY store_id, gtin"
        ),
        [now, load_id],
    ).rowcount


def _record_loaded(db: CentralDb, load_id: int) -> list[tuple[str, bytes]]:
    """Each store's levels this load moved, as its feed changes (LEVELS_PER_CHANGE each),
    read back in one pass; at most one unfinished chunk per store is held in memory."""
    changes: list[tuple[str, bytes]] = []
    chunks: dict[str, list[tuple]] = {}
    heads: dict[str, int] = {}  # each store's feed head, read once
    for store_id, gtin, quantity, as_of in db.stream(
        "SELECT store_id, gtin, quantity, as_of FROM stock_levels WHERE load_id = %s",
        [load_id],
    ):
        if not -MAX_QUANTITY <= quantity <= MAX_QUANTITY:
            # Deltas can add up past what a store accepts: refused here, not there.
            raise MasterFileError(
                f"store {store_id} would hold {quantity} of {gtin}; at most"
                f" {MAX_QUANTITY:,} in absolute value"
            )
        chunk = chunks.setdefault(store_id, [])
        chunk.append((gtin, quantity, as_of))
        if len(chunk) == LEVELS_PER_CHANGE:
            changes.append(_record(db, store_id, sorted(chunk), heads))
            chunk.clear()
    for store_id, chunk in sorted(chunks.items()):
        if chunk:
            changes.append(_record(db, store_id, sorted(chunk), heads))
    return changes


def _record(
    db: CentralDb, store_id: str, levels: list[tuple], heads: dict[str, int] | None = None
) -> tuple[str, bytes]:
    # As text, not dicts: a first load of a chain is millions of levels. Every value is
    # checked already (digits, an integer, a UTC time), so nothing needs escaping.
    data = (
        '{"levels": ['
        + ", ".join(
            f'{{"gtin": "{g}", "quantity": {int(q)}, "as_of": "{a}"}}' for g, q, a in levels
        )
        + "]}"
    )
    if heads is None:
        return store_id, append_change(db, store_id, STOCK_LEVELS, data)
    # The first change of a load is checked against the schema; the others are made by
    # the same formatter from values checked more strictly when the file was read
    # (GTIN check digit, store id, |quantity| <= MAX_QUANTITY, a UTC time), and the
    # check is a fifth of a big load's time.
    vouched = bool(heads)
    if store_id not in heads:
        heads[store_id] = feed_head(db, store_id)
    heads[store_id] += 1
    return store_id, append_change(
        db, store_id, STOCK_LEVELS, data, heads[store_id], vouched=vouched
    )
