"""Master data records and files shared by the master data and look-up tests."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

CUSTOMER: dict[str, Any] = {
    "id": "cust-1",
    "loyalty_id": "2900000000011",
    "first_name": "Lucía",
    "last_name": "Gómez",
    "email_hash": "e" * 64,
    "consent_marketing": True,
    "loyalty": {"tier": "gold", "points": 1200, "lifetime_points": 5400},
}
OTHER_CUSTOMER: dict[str, Any] = {"id": "cust-2", "first_name": "Luis", "last_name": "Martín"}


def order(number: str, **changes: Any) -> dict[str, Any]:
    """A click-and-collect order for store-a (change what the test needs)."""
    record: dict[str, Any] = {
        "number": number,
        "customer_id": "cust-1",
        "fulfilment": "click_and_collect",
        "status": "processing",
        "pickup_store_id": "store-a",
        "placed_at": "2026-11-20T10:00:00Z",
        "currency": "EUR",
        "total_minor": 5990,
        "payment_method": "card",
        "lines": [
            {"line_no": 1, "gtin": "8400000000017", "sku": "DR-1", "name": "Vestido",
             "size": "M", "quantity": 1, "unit_price_minor": 3995},
            {"line_no": 2, "gtin": "8400000000024", "sku": "SC-2", "name": "Pañuelo",
             "quantity": 1, "unit_price_minor": 1995},
        ],
    }  # fmt: skip
    record.update(copy.deepcopy(changes))
    return record


def delivered(number: str, customer_id: str = "cust-1") -> dict[str, Any]:
    """A delivered online order: no store is told; it is found by look-up."""
    return order(
        number, customer_id=customer_id, fulfilment="delivery", status="delivered",
        pickup_store_id=None, fulfilled_at="2026-11-22T10:00:00Z",
    )  # fmt: skip


def write_json(path: Path, body: Any) -> Path:
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


ORDER_HEADER = ["number", "customer_id", "fulfilment", "status", "pickup_store_id",
                "placed_at", "currency", "total_minor", "payment_method", "line_no", "gtin",
                "sku", "name", "size", "quantity", "unit_price_minor"]  # fmt: skip


def order_rows(number: str, status: str = "processing", quantity: Any = 1) -> list[list[Any]]:
    head = [number, "cust-1", "click_and_collect", status, "store-a", "2026-11-20T10:00:00Z",
            "EUR", 5990, "card"]  # fmt: skip
    return [
        [*head, 1, "8400000000017", "DR-1", "Vestido", "M", quantity, 3995],
        [*head, 2, "8400000000024", "SC-2", "Pañuelo", "", 1, 1995],
    ]
