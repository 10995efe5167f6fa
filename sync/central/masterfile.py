"""Reading the centre's master data files: customers and orders, as JSON or CSV.

Every record is validated with the same schemas the stores apply (`sync.protocol.changes`), so a
file the centre accepts is one every store accepts. A file is read whole before anything
is stored: one bad record refuses the file, and the error names the file, the row (or
record) and the field.

JSON: a list of records (an order has a `number`, a customer an `id`), or an object
`{"customers": [...], "orders": [...]}`, each record in the change-feed shape.

CSV (UTF-8, header row; the header says which kind of file it is):
- customers: `id, first_name, last_name` and optionally `loyalty_id, email_hash,
  phone_hash, preferred_locale, consent_marketing, tier, points, lifetime_points`
  (tier, points and lifetime_points together make the loyalty account).
- orders, one row per order line, grouped by `number` (the order's columns repeat on
  each of its rows and must agree): `number, fulfilment, status, placed_at, currency,
  total_minor, payment_method, line_no, gtin, sku, name, quantity, unit_price_minor`
  and optionally `customer_id, channel, pickup_store_id, fulfilled_at, category,
  colour, size, final_sale`.
An empty cell means "not given".
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from sync.protocol.changes import CustomerUpserted, OrderUpserted

CUSTOMER_COLUMNS = ("id", "first_name", "last_name")
CUSTOMER_OPTIONAL = (
    "loyalty_id",
    "email_hash",
    "phone_hash",
    "preferred_locale",
    "consent_marketing",
)
LOYALTY_COLUMNS = ("tier", "points", "lifetime_points")
ORDER_COLUMNS = ("number", "fulfilment", "status", "placed_at", "currency", "total_minor",
                 "payment_method")  # fmt: skip
ORDER_OPTIONAL = ("customer_id", "channel", "pickup_store_id", "fulfilled_at")
LINE_COLUMNS = ("line_no", "gtin", "sku", "name", "quantity", "unit_price_minor")
LINE_OPTIONAL = ("category", "colour", "size", "final_sale")


class MasterFileError(ValueError):
    """A master data file that cannot be loaded; the text names file, row and field."""


@dataclass
class MasterRecords:
    customers: list[CustomerUpserted] = field(default_factory=list)
    orders: list[OrderUpserted] = field(default_factory=list)


def read_master_file(path: Path) -> MasterRecords:
    """Read and validate one file (JSON or CSV, by its extension)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterFileError(f"{path}: cannot be read: {exc}") from None
    if path.suffix.lower() == ".csv":
        return _read_csv(path, text)
    if path.suffix.lower() == ".json":
        return _read_json(path, text)
    raise MasterFileError(f"{path}: expected a .json or .csv file")


def _read_json(path: Path, text: str) -> MasterRecords:
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise MasterFileError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"customers", "orders"})
        if unknown:
            raise MasterFileError(f"{path}: unknown key(s) {unknown}; expected customers, orders")
        sections = [(name, body.get(name, [])) for name in ("customers", "orders")]
    elif isinstance(body, list):
        sections = [("records", body)]
    else:
        raise MasterFileError(f"{path}: expected a list of records or {{customers, orders}}")
    records = MasterRecords()
    for section, items in sections:
        if not isinstance(items, list):
            raise MasterFileError(f"{path}: {section} must be a list")
        for number, item in enumerate(items, 1):
            where = f"{path}: {section} record {number}"
            if not isinstance(item, dict):
                raise MasterFileError(f"{where}: expected an object")
            is_order = section == "orders" or (section == "records" and "number" in item)
            if section == "records" and not is_order and "id" not in item:
                raise MasterFileError(
                    f"{where}: neither an order (has `number`) nor a customer (has `id`)"
                )
            if is_order:
                records.orders.append(_validate(OrderUpserted, item, lambda _loc, w=where: w))
            else:
                records.customers.append(_validate(CustomerUpserted, item, lambda _loc, w=where: w))
    _refuse_duplicates(path, records)
    return records


def _read_csv(path: Path, text: str) -> MasterRecords:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = tuple(reader.fieldnames or ())
    if {"number", "line_no"} <= set(header):
        records = MasterRecords(orders=_csv_orders(path, header, reader))
    elif {"id", "first_name"} <= set(header):
        records = MasterRecords(customers=_csv_customers(path, header, reader))
    else:
        raise MasterFileError(
            f"{path}: header {list(header)} is neither a customers file "
            f"({', '.join(CUSTOMER_COLUMNS)}, ...) nor an orders file "
            f"({', '.join(ORDER_COLUMNS + LINE_COLUMNS)}, ...)"
        )
    _refuse_duplicates(path, records)
    return records


def _csv_customers(path: Path, header: tuple[str, ...], reader: csv.DictReader) -> list:
    _check_columns(path, header, CUSTOMER_COLUMNS, CUSTOMER_OPTIONAL + LOYALTY_COLUMNS)
    customers = []
    for row in reader:
        where = f"{path}: row {reader.line_num}"
        cells = _cells(path, reader.line_num, row)
        loyalty = {k: cells.pop(k) for k in LOYALTY_COLUMNS if k in cells}
        if loyalty:
            cells["loyalty"] = loyalty
        customers.append(_validate(CustomerUpserted, cells, lambda _loc, w=where: w))
    return customers


def _csv_orders(path: Path, header: tuple[str, ...], reader: csv.DictReader) -> list:
    head_columns = ORDER_COLUMNS + ORDER_OPTIONAL
    _check_columns(path, header, ORDER_COLUMNS + LINE_COLUMNS, ORDER_OPTIONAL + LINE_OPTIONAL)
    groups: dict[str, tuple[int, dict[str, Any], list[tuple[int, dict[str, Any]]]]] = {}
    for row in reader:
        cells = _cells(path, reader.line_num, row)
        head = {k: v for k, v in cells.items() if k in head_columns}
        line = {k: v for k, v in cells.items() if k not in head_columns}
        number = head.get("number", "")
        if number not in groups:
            groups[number] = (reader.line_num, head, [])
        first_row, first_head, lines = groups[number]
        if head != first_head:
            differing = sorted(k for k in set(head) | set(first_head)
                               if head.get(k) != first_head.get(k))  # fmt: skip
            raise MasterFileError(
                f"{path}: row {reader.line_num}: {differing[0]}: differs from row {first_row}"
                f" of order {number} (an order's columns must agree on all its lines)"
            )
        lines.append((reader.line_num, line))
    orders = []
    for first_row, head, lines in groups.values():
        data = {**head, "lines": [line for _, line in lines]}

        def where(loc: tuple, first: int = first_row, rows: list = lines) -> str:
            # An error in lines[i] is on the CSV row that line came from.
            if len(loc) >= 2 and loc[0] == "lines" and isinstance(loc[1], int):
                return f"{path}: row {rows[loc[1]][0]}"
            return f"{path}: row {first}"

        orders.append(_validate(OrderUpserted, data, where, strip_lines=True))
    return orders


def _validate(model: type[BaseModel], data: dict, where: Any, strip_lines: bool = False) -> Any:
    try:
        record = model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        shown = loc[2:] if strip_lines and len(loc) >= 3 and loc[0] == "lines" else loc
        name = ".".join(str(part) for part in shown) or "(record)"
        raise MasterFileError(f"{where(loc)}: {name}: {error['msg']}") from None
    for name in ("placed_at", "fulfilled_at"):
        moment = getattr(record, name, None)
        if moment is not None and moment.tzinfo is None:
            # Times are UTC everywhere; a time without a zone would be a guess.
            raise MasterFileError(f"{where(())}: {name}: needs a time zone, e.g. Z for UTC")
    return record


def _cells(path: Path, row_number: int, row: dict) -> dict[str, Any]:
    if None in row:  # more cells than the header has columns
        raise MasterFileError(f"{path}: row {row_number}: more cells than header columns")
    return {k: v.strip() for k, v in row.items() if v is not None and v.strip() != ""}


def _check_columns(
    path: Path, header: tuple[str, ...], required: tuple[str, ...], optional: tuple[str, ...]
) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise MasterFileError(f"{path}: row 1: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in required + optional]
    if unknown:
        raise MasterFileError(f"{path}: row 1: unknown column(s) {', '.join(unknown)}")


def _refuse_duplicates(path: Path, records: MasterRecords) -> None:
    for kind, keys in (
        ("customer", [c.id for c in records.customers]),
        ("order", [o.number for o in records.orders]),
    ):
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                raise MasterFileError(f"{path}: {kind} {key} appears twice in the file")
            seen.add(key)
