"""`edge-central load`: master data from JSON and CSV, validated, idempotent, routed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync.central.cli import main
from sync.central.db import CentralDb
from sync.central.masterdata import load_records, read_order
from sync.central.masterfile import MasterFileError, read_master_file
from tests.sync.masterdata_fixtures import (
    CUSTOMER,
    ORDER_HEADER,
    OTHER_CUSTOMER,
    delivered,
    order,
    order_rows,
    write_csv,
    write_json,
)


def load(db: CentralDb, path: Path):
    return load_records(db, read_master_file(path), str(path))


def feed(db: CentralDb, store_id: str = "store-a") -> list[tuple[str, dict]]:
    rows = db.execute(
        "SELECT type, payload FROM changes WHERE store_id = %s ORDER BY seq", [store_id]
    ).fetchall()
    return [(kind, json.loads(payload)["data"]) for kind, payload in rows]


def count(db: CentralDb, table: str) -> int:
    return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_json_object_loads_and_the_collect_order_goes_to_its_store_customer_first(tmp_path, centre):
    path = write_json(
        tmp_path / "master.json",
        {"customers": [CUSTOMER, OTHER_CUSTOMER],
         "orders": [order("W900000001"), delivered("W900000002", "cust-2")]},
    )  # fmt: skip
    result = load(centre, path)
    assert (result.added, result.changed, result.unchanged) == (4, 0, 0)
    assert [kind for kind, _ in feed(centre)] == ["customer.upserted", "order.upserted"]
    assert feed(centre)[1][1]["number"] == "W900000001"
    assert count(centre, "order_lines") == 4
    # The delivered order is kept for look-ups but sent to no store.
    assert read_order(centre, "W900000002")["fulfilment"] == "delivery"
    assert count(centre, "changes") == 2


def test_json_list_tells_orders_from_customers(tmp_path, centre):
    path = write_json(tmp_path / "master.json", [CUSTOMER, order("W900000001")])
    result = load(centre, path)
    assert result.added == 2
    assert read_order(centre, "W900000001")["lines"][0]["name"] == "Vestido"


def test_csv_files_load_orders_grouped_by_number(tmp_path, centre):
    customers = write_csv(
        tmp_path / "customers.csv",
        ["id", "first_name", "last_name", "loyalty_id", "consent_marketing", "tier", "points",
         "lifetime_points"],
        [["cust-1", "Lucía", "Gómez", "2900000000011", "true", "gold", 1200, 5400]],
    )  # fmt: skip
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, order_rows("W900000001"))
    assert load(centre, customers).added == 1
    assert load(centre, orders).added == 1
    loaded = read_order(centre, "W900000001")
    assert [line["name"] for line in loaded["lines"]] == ["Vestido", "Pañuelo"]
    assert loaded["lines"][1]["size"] is None  # an empty cell is "not given"
    tier = centre.execute("SELECT tier, points FROM customers WHERE id = 'cust-1'").fetchone()
    assert tuple(tier) == ("gold", 1200)


def test_loading_the_same_files_again_records_no_change(tmp_path, centre):
    path = write_json(
        tmp_path / "m.json", {"customers": [CUSTOMER], "orders": [order("W900000001")]}
    )
    load(centre, path)
    again = load(centre, path)
    assert (again.added, again.changed, again.unchanged, again.changes) == (0, 0, 2, [])
    assert count(centre, "changes") == 2


def test_a_status_change_goes_out_as_order_status_changed(tmp_path, centre):
    load(centre, write_json(tmp_path / "a.json", [CUSTOMER, order("W900000001")]))
    load(centre, write_json(tmp_path / "b.json", [order("W900000001", status="ready_for_pickup")]))
    assert feed(centre)[-1] == (
        "order.status_changed",
        {"number": "W900000001", "status": "ready_for_pickup"},
    )
    load(centre, write_json(tmp_path / "c.json", [order("W900000001", total_minor=100)]))
    assert feed(centre)[-1][0] == "order.upserted"


def test_a_customer_update_goes_to_stores_that_know_the_customer(tmp_path, centre):
    load(centre, write_json(tmp_path / "a.json", [CUSTOMER, order("W900000001")]))
    # store-b identified the customer: its event is in the centre's events table.
    envelope = {"type": "customer.identified", "data": {"customer_id": "cust-1"}}
    with centre.transaction():
        centre.execute(
            "INSERT INTO events (event_id, store_id, source, seq, type, time, envelope,"
            " received_at) VALUES ('e1', 'store-b', '/stores/store-b/t1', 1,"
            " 'customer.identified', 't', %s, 't')",
            [json.dumps(envelope)],
        )
    load(centre, write_json(tmp_path / "b.json", [{**CUSTOMER, "last_name": "Gómez Ruiz"}]))
    for store_id in ("store-a", "store-b"):
        kind, data = feed(centre, store_id)[-1]
        assert (kind, data["last_name"]) == ("customer.upserted", "Gómez Ruiz")
    assert feed(centre, "store-c") == []


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("bad.json", {"customers": [CUSTOMER, {**OTHER_CUSTOMER, "first_name": ""}]},
         "bad.json: customers record 2: first_name: String should have at least 1"),
        ("bad.json", [CUSTOMER, order("W900000001", currency="euro")],
         "bad.json: records record 2: currency: String should match pattern"),
        ("bad.json", [CUSTOMER, order("W900000001", placed_at="2026-11-20T10:00:00")],
         "bad.json: records record 2: placed_at: needs a time zone"),
        ("bad.json", [CUSTOMER, {"sku": "x"}],
         "bad.json: records record 2: neither an order"),
        ("bad.json", [CUSTOMER, CUSTOMER], "bad.json: customer cust-1 appears twice"),
        ("bad.json", [CUSTOMER, order("W900000001", customer_id="cust-9")],
         "bad.json: order W900000001: customer_id: customer cust-9 is not loaded"),
    ],
)  # fmt: skip
def test_a_bad_json_file_is_refused_naming_record_and_field_and_nothing_is_loaded(
    tmp_path, centre, name, body, expected
):
    path = write_json(tmp_path / name, body)
    with pytest.raises(MasterFileError) as refused:
        load(centre, path)
    assert expected in str(refused.value)
    assert count(centre, "customers") == count(centre, "orders") == count(centre, "changes") == 0


def test_a_bad_csv_row_is_refused_naming_file_row_and_field(tmp_path, centre):
    load(centre, write_json(tmp_path / "c.json", [CUSTOMER]))
    rows = order_rows("W900000001") + order_rows("W900000002", quantity="two")
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    with pytest.raises(MasterFileError) as refused:
        load(centre, path)
    # Row 1 is the header: W900000002's first line is on row 4.
    assert "orders.csv: row 4: quantity: Input should be a valid integer" in str(refused.value)
    assert count(centre, "orders") == 0


def test_csv_order_rows_that_disagree_are_refused(tmp_path, centre):
    rows = order_rows("W900000001")
    rows[1][3] = "delivered"
    path = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    with pytest.raises(MasterFileError, match=r"orders.csv: row 3: status: differs from row 2"):
        load(centre, path)


def test_csv_with_an_unknown_column_is_refused(tmp_path, centre):
    path = write_csv(tmp_path / "c.csv", ["id", "first_name", "last_name", "email"], [])
    with pytest.raises(MasterFileError, match=r"c.csv: row 1: unknown column\(s\) email"):
        load(centre, path)


def test_cli_load_reports_per_file_and_refuses_a_bad_one_whole(tmp_path):
    db = f"sqlite://{tmp_path / 'central.sqlite3'}"
    good = write_json(tmp_path / "good.json", [CUSTOMER, order("W900000001")])
    bad = write_json(tmp_path / "bad.json", [order("W900000002", quantity=1, lines=[])])
    runner = CliRunner()
    ok = runner.invoke(main, ["load", "--db", db, str(good)])
    assert ok.exit_code == 0, ok.output
    assert "2 added, 0 changed, 0 unchanged; 2 change(s) for stores" in ok.output
    refused = runner.invoke(main, ["load", "--db", db, str(bad)])
    assert refused.exit_code == 1
    assert "bad.json: records record 1: lines:" in refused.output
    assert "nothing from this file was loaded" in refused.output
    again = runner.invoke(main, ["load", "--db", db, str(good)])
    assert "0 added, 0 changed, 2 unchanged; 0 change(s)" in again.output


def test_cli_load_help_documents_the_csv_columns():
    result = CliRunner().invoke(main, ["load", "--help"])
    assert result.exit_code == 0
    for column in ("pickup_store_id", "line_no", "unit_price_minor", "email_hash", "tier"):
        assert column in result.output
