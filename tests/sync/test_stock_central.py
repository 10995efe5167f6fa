"""Stock at the centre: stores and stock files checked and loaded (SQLite and PostgreSQL),
snapshots and deltas, each store's levels coalesced into its feed, and "who else has
it" nearest first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.central.cli import main
from sync.central.db import CentralDb
from sync.central.masterfile import MasterFileError
from sync.central.stock import apply_stream, flush_stock, load_stock, load_stores, stock_elsewhere
from sync.central.stockfile import read_stock_file, read_stores_file
from sync.protocol.changes import MAX_CHANGE_BYTES, parse_change
from sync.protocol.stock import LEVELS_PER_CHANGE, StockLevels
from tests.sync.postgres import postgres_url  # noqa: F401 - the fixture
from tests.sync.stock_fixtures import (
    gtin,
    write_deltas,
    write_rows,
    write_snapshot,
    write_stores,
)

NOW = "2026-12-06T10:00:00.000000Z"
LATER = "2026-12-06T11:00:00.000000Z"


@pytest.fixture
def pg_centre(postgres_url: str) -> Iterator[CentralDb]:  # noqa: F811
    db = CentralDb(postgres_url)
    db.create_schema()
    yield db
    db.close()


def levels(db: CentralDb) -> dict[tuple[str, str], int]:
    rows = db.execute("SELECT store_id, gtin, quantity FROM stock_levels").fetchall()
    return {(s, g): int(q) for s, g, q in rows}


def feed_levels(db: CentralDb, store_id: str) -> list[dict[str, int]]:
    """Each stock.levels change of the store, as gtin -> quantity, parsed as a store would."""
    rows = db.execute(
        "SELECT payload FROM changes WHERE store_id = %s AND type = 'stock.levels' ORDER BY seq",
        [store_id],
    ).fetchall()
    found = []
    for (payload,) in rows:
        change = parse_change(payload.encode())
        assert isinstance(change.data, StockLevels)
        found.append({lv.gtin: lv.quantity for lv in change.data.levels})
    return found


def load(db: CentralDb, path: Path, now: str = NOW):
    return load_stock(db, read_stock_file(path), now)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_snapshot_reaches_each_store_feed_once_and_a_reload_records_nothing(
    tmp_path, backend, request
):
    db = request.getfixturevalue("centre" if backend == "sqlite" else "pg_centre")
    snapshot = {("store-a", gtin(1)): 3, ("store-a", gtin(2)): 0, ("store-b", gtin(1)): 7}
    path = write_snapshot(tmp_path / "stock.csv", snapshot, as_of="2026-12-06T09:00:00+01:00")
    result = load(db, path)
    assert (result.rows, result.changed) == (3, 3)
    assert levels(db) == snapshot
    assert feed_levels(db, "store-a") == [{gtin(1): 3, gtin(2): 0}]
    assert feed_levels(db, "store-b") == [{gtin(1): 7}]
    # The figure's time travels in UTC: the store compares its own sales against it.
    payload = db.execute("SELECT payload FROM changes WHERE store_id = 'store-b'").fetchone()[0]
    assert json.loads(payload)["data"]["levels"][0]["as_of"] == "2026-12-06T08:00:00.000000Z"
    again = load(db, path, LATER)
    assert again.changed == 0 and again.changes == []
    assert len(feed_levels(db, "store-a")) == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_snapshot_zeroes_what_it_leaves_out_for_its_stores_only(tmp_path, backend, request):
    db = request.getfixturevalue("centre" if backend == "sqlite" else "pg_centre")
    load(db, write_snapshot(tmp_path / "first.csv", {
        ("store-a", gtin(1)): 3, ("store-a", gtin(2)): 4, ("store-b", gtin(2)): 5}))  # fmt: skip
    load(db, write_snapshot(tmp_path / "second.csv", {("store-a", gtin(1)): 2}), LATER)
    assert levels(db) == {
        ("store-a", gtin(1)): 2,
        ("store-a", gtin(2)): 0,  # not in store-a's new snapshot: gone
        ("store-b", gtin(2)): 5,  # store-b was not in the file: untouched
    }
    assert feed_levels(db, "store-a")[-1] == {gtin(1): 2, gtin(2): 0}
    assert len(feed_levels(db, "store-b")) == 1


def test_an_older_snapshot_does_not_overwrite_a_newer_figure(tmp_path, centre):
    key = ("store-a", gtin(1))
    load(centre, write_snapshot(tmp_path / "new.csv", {key: 9}, "2026-12-06T12:00:00Z"))
    late = load(centre, write_snapshot(tmp_path / "old.csv", {key: 1}, "2026-12-06T08:00:00Z"))
    assert late.changed == 0
    assert levels(centre)[key] == 9


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_deltas_add_up_and_a_delta_file_counts_once(tmp_path, backend, request):
    db = request.getfixturevalue("centre" if backend == "sqlite" else "pg_centre")
    load(db, write_snapshot(tmp_path / "s.csv", {("store-a", gtin(1)): 5}))
    deltas = write_deltas(tmp_path / "d.csv", [
        ("store-a", gtin(1), -1), ("store-a", gtin(1), -2), ("store-b", gtin(3), 4)])  # fmt: skip
    result = load(db, deltas, LATER)
    assert levels(db) == {("store-a", gtin(1)): 2, ("store-b", gtin(3)): 4}
    # Three sales and a delivery: one change per store, not one per movement.
    assert feed_levels(db, "store-a")[-1] == {gtin(1): 2}
    assert len(result.changes) == 2
    repeat = load(db, deltas, LATER)
    assert repeat.already_loaded and levels(db)[("store-a", gtin(1))] == 2


def test_a_large_store_snapshot_is_chunked_into_changes_a_store_accepts(tmp_path, centre):
    count = LEVELS_PER_CHANGE * 2 + 500
    path = write_snapshot(tmp_path / "big.csv", {("store-a", gtin(n)): n % 7 for n in range(count)})
    result = load(centre, path)
    assert [len(c) for c in feed_levels(centre, "store-a")] == [1000, 1000, 500]
    assert all(len(payload) < MAX_CHANGE_BYTES for _, payload in result.changes)
    assert sum(len(c) for c in feed_levels(centre, "store-a")) == count


G1 = gtin(1)
WRONG = G1[:-1] + str((int(G1[-1]) + 1) % 10)
BAD_CSV = [
    (["store_id", "gtin", "quantity"], [["store-a", G1, "x"]], "row 2: quantity:"),
    (["store_id", "gtin", "quantity"], [["store-a", WRONG, "1"]],
     f"row 2: gtin: {WRONG} has a wrong check digit"),
    (["store_id", "gtin", "quantity"], [["store-a", "84000", "1"]], "row 2: gtin:"),
    (["store_id", "gtin", "quantity"], [["Store A", G1, "1"]], "row 2: store_id:"),
    (["store_id", "gtin", "quantity"], [["store-a", G1, "-1"]],
     "row 2: quantity: 0 or more"),
    (["store_id", "gtin", "quantity"], [["store-a", G1, "2000000"]],
     "row 2: quantity: at most"),
    (["store_id", "gtin", "quantity", "as_of"],
     [["store-a", G1, "1", "2026-12-06T09:00:00"]], "row 2: as_of: needs a time zone"),
    (["store_id", "gtin", "quantity", "as_of"],
     [["store-a", G1, "1", "9999-12-31T23:00:00-05:00"]],
     "row 2: as_of: 9999-12-31T23:00:00-05:00 lies outside years 1-9999 once in UTC"),
    (["store_id", "gtin", "quantity", "bin"], [["store-a", G1, "1", "A"]],
     "row 1: unknown column(s) bin"),
    (["store_id", "gtin", "quantity", "delta"], [], "row 1: a stock file has either"),
    (["store_id", "gtin", "quantity"], [["store-a", G1]], "row 2: (row): 2 cells"),
    (["store_id", "gtin", "quantity"],
     [["store-a", G1, "1"], ["store-b", G1, "1"],
      ["store-a", G1, "2"]],
     f"row 4: gtin: {G1} of store store-a is already in row 2"),
]  # fmt: skip


@pytest.mark.parametrize(("header", "rows", "error"), BAD_CSV)
def test_a_bad_stock_csv_is_refused_naming_row_and_field_and_nothing_loads(
    tmp_path, centre, header, rows, error
):
    good = [["store-b", gtin(9), "4"] + [""] * (len(header) - 3)] if "quantity" in header else []
    path = write_rows(tmp_path / "stock.csv", header, good + rows if rows else rows)
    expected = error.replace("row 2", "row 3").replace("row 4", "row 5").replace(
        "in row 2", "in row 3") if good and "row 1" not in error else error  # fmt: skip
    with pytest.raises(MasterFileError) as refused:
        load(centre, path)
    assert f"stock.csv: {expected}" in str(refused.value)
    # The good row before the bad one was not kept either: the file is all or nothing.
    assert levels(centre) == {}
    assert feed_levels(centre, "store-b") == []


def test_a_bad_json_stock_record_is_refused_naming_record_and_field(tmp_path, centre):
    path = tmp_path / "stock.json"
    path.write_text(json.dumps({"stock_deltas": [
        {"store_id": "store-a", "gtin": gtin(1), "delta": -1},
        {"store_id": "store-a", "gtin": gtin(1), "delta": 1.5},
    ]}))  # fmt: skip
    with pytest.raises(MasterFileError, match=r"stock_deltas record 2: delta: a whole number"):
        load(centre, path)
    assert levels(centre) == {}
    # A refused delta file was not remembered as loaded: fixed, it loads.
    path.write_text(json.dumps({"stock_deltas": [{"store_id": "store-a", "gtin": gtin(1),
                                                  "delta": -1}]}))  # fmt: skip
    assert not load(centre, path).already_loaded
    assert levels(centre) == {("store-a", gtin(1)): -1}


def test_a_bad_stores_file_is_refused_naming_row_and_field(tmp_path):
    header = ["store_id", "name", "latitude", "longitude"]
    cases = [
        ([["store-a", "A", "91", "0"]], "row 2: latitude: a number from -90 to 90"),
        ([["store-a", "A", "40.1", ""]], "row 2: longitude: both latitude and longitude"),
        ([["store-a", "", "", ""]], "row 2: name:"),
        ([["store-a", "A", "", ""], ["store-a", "B", "", ""]], "row 3: store_id: store-a is"),
    ]
    for rows, error in cases:
        path = write_rows(tmp_path / "stores.csv", header, rows)
        with pytest.raises(MasterFileError, match=error.replace("(", r"\(")):
            read_stores_file(path)


def test_stock_elsewhere_lists_other_stores_nearest_first(tmp_path, centre):
    load_stores(centre, read_stores_file(write_stores(tmp_path / "stores.csv")), NOW)
    load(centre, write_snapshot(tmp_path / "s.csv", {
        ("store-a", gtin(1)): 5,  # the asking store: never listed
        ("store-c", gtin(1)): 2, ("store-c", gtin(2)): 1,
        ("store-d", gtin(2)): 8,  # no location: last
        ("store-b", gtin(1)): 1, ("store-b", gtin(2)): 0,  # nothing of gtin 2 there
    }))  # fmt: skip
    found = stock_elsewhere(centre, "store-a", [gtin(1), gtin(2), gtin(3)])
    assert [(s["store_id"], s["levels"]) for s in found] == [
        ("store-b", {gtin(1): 1}),
        ("store-c", {gtin(1): 2, gtin(2): 1}),
        ("store-d", {gtin(2): 8}),
    ]
    assert 5 < found[0]["distance_km"] < 7
    assert 480 < found[1]["distance_km"] < 520
    assert found[2]["distance_km"] is None
    assert stock_elsewhere(centre, "store-a", [gtin(7)]) == []


def test_a_stream_batch_applies_once_and_reaches_the_store_at_the_next_flush(centre):
    batch = ([("store-a", gtin(1), 6, None)], [("store-a", gtin(2), -1, None)])
    first = apply_stream(centre, "batch-1", *batch, NOW)
    assert (first.changed, first.already_loaded) == (2, False)
    assert feed_levels(centre, "store-a") == []  # not yet: coalesced at the flush
    assert apply_stream(centre, "batch-1", *batch, NOW).already_loaded
    apply_stream(centre, "batch-2", [], [("store-a", gtin(1), -2, None)], NOW)
    changes = flush_stock(centre)
    assert [store for store, _ in changes] == ["store-a"]
    assert feed_levels(centre, "store-a") == [{gtin(1): 4, gtin(2): -1}]
    assert flush_stock(centre) == []  # nothing moved since


def test_cli_load_takes_stores_and_stock_and_refuses_a_bad_file_whole(tmp_path):
    db = f"sqlite://{tmp_path / 'central.sqlite3'}"
    stores = write_stores(tmp_path / "stores.csv")
    stock = write_snapshot(
        tmp_path / "stock.csv", {("store-a", gtin(1)): 2, ("store-b", gtin(1)): 3}
    )
    runner = CliRunner()
    ok = runner.invoke(main, ["load", "--db", db, str(stores), str(stock)])
    assert ok.exit_code == 0, ok.output
    assert "stores.csv: 4 store(s) written; 0 change(s) for stores" in ok.output
    assert "stock.csv: 2 snapshot row(s), 2 level(s) moved; 2 change(s) for stores" in ok.output
    bad = write_rows(tmp_path / "bad.csv", ["store_id", "gtin", "delta"],
                     [["store-a", gtin(1), "-1"], ["store-a", gtin(1), "one"]])  # fmt: skip
    refused = runner.invoke(main, ["load", "--db", db, str(bad)])
    assert refused.exit_code == 1
    assert "bad.csv: row 3: delta: a whole number; nothing from this file was loaded" in (
        refused.output
    )
    help_text = runner.invoke(main, ["load", "--help"]).output
    assert "store_id, gtin, quantity" in help_text and "delta" in help_text


def test_two_workers_flushing_at_the_same_instant_tell_each_store_once(pg_centre):
    import threading

    levels = [(f"store-{n % 5}", gtin(n), n % 9, None) for n in range(2000)]
    apply_stream(pg_centre, "burst", levels, [], NOW)
    barrier = threading.Barrier(2)
    results: list[list] = []
    errors: list[BaseException] = []

    def flush() -> None:
        db = CentralDb(pg_centre.url)
        try:
            barrier.wait()
            results.append(flush_stock(db))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=flush) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for n in range(5):
        told = feed_levels(pg_centre, f"store-{n}")
        assert sum(len(c) for c in told) == 400  # every level once, none twice
        rows = pg_centre.execute(
            "SELECT seq FROM changes WHERE store_id = %s ORDER BY seq", [f"store-{n}"]
        ).fetchall()
        seqs = [r[0] for r in rows]
        assert seqs == list(range(1, len(seqs) + 1))
    assert flush_stock(pg_centre) == []


def test_a_load_killed_mid_way_leaves_nothing_and_runs_again_whole(tmp_path, pg_centre):
    import subprocess
    import sys
    import time

    edge_central = str(Path(sys.executable).with_name("edge-central"))
    chain = {(f"store-{s}", gtin(n)): 1 for s in range(20) for n in range(10_000)}
    path = write_snapshot(tmp_path / "big.csv", chain)
    proc = subprocess.Popen([edge_central, "load", "--db", pg_centre.url, str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    # Kill it once it is writing (its COPY has begun), well before it can commit.
    while (
        time.monotonic() < deadline
        and not pg_centre.execute(
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE 'COPY stock_incoming%%'"
            " AND state = 'active'"
        ).fetchone()
    ):
        time.sleep(0.01)
    proc.kill()
    proc.wait(timeout=10)
    assert levels(pg_centre) == {}
    assert pg_centre.execute("SELECT COUNT(*) FROM changes").fetchone() == (0,)
    again = CliRunner().invoke(main, ["load", "--db", pg_centre.url, str(path)])
    assert again.exit_code == 0, again.output
    assert len(levels(pg_centre)) == 200_000
    assert pg_centre.execute("SELECT COUNT(*) FROM changes").fetchone() == (200,)


def test_deltas_that_would_add_up_past_what_a_store_accepts_are_refused_whole(tmp_path, centre):
    load(centre, write_snapshot(tmp_path / "s.csv", {("store-a", gtin(1)): 999_999}))
    deltas = write_deltas(tmp_path / "d.csv", [("store-a", gtin(2), 5), ("store-a", gtin(1), 2)])
    with pytest.raises(MasterFileError, match=r"store store-a would hold 1000001 of"):
        load(centre, deltas, LATER)
    assert levels(centre) == {("store-a", gtin(1)): 999_999}
    assert len(feed_levels(centre, "store-a")) == 1
