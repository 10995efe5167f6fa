"""Reading the centre's store and stock files: which stores exist and where, and how much
of each GTIN each store holds.

Stock files are big (a chain of 500 stores with 20,000 GTINs each is ten million rows),
so they are read as a stream of checked rows, never held whole: `read_stock_file` says
what the file is, and its rows are checked one by one as the loader takes them. The
loader writes them inside one transaction, so a bad row anywhere still refuses the whole
file. Every error names the file, the row (CSV, the header is row 1) or record (JSON),
and the field.

Stores (CSV header `store_id, name, latitude, longitude`, or JSON
`{"stores": [{"store_id", "name", "latitude", "longitude"}]}`): the location is what
"nearest stores first" is measured from; a store without one is listed last.

Stock (CSV or JSON `{"stock": [...]}` / `{"stock_deltas": [...]}`):
- a snapshot, header `store_id, gtin, quantity` (optional `as_of`): for every store in
  the file, its whole stock as of that time; a GTIN of that store the file leaves out
  goes to 0;
- deltas, header `store_id, gtin, delta` (optional `as_of`): movements to add (a sale is
  -1). A delta file is loaded once: the same file again changes nothing.
`as_of` carries a zone (e.g. `2026-12-06T09:00:00Z`); without it the time of the load.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NoReturn

from biip.checksums import gs1_standard_check_digit

from sync.central.masterfile import MasterFileError

# The agent's `store.id` (it goes into MQTT topics).
STORE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
GTIN = re.compile(r"^(\d{8}|\d{12,14})$")
# A store holds far fewer of one GTIN; a bigger figure is a typo (or a unit mix-up).
MAX_QUANTITY = 1_000_000
STOCK_COLUMNS = {"quantity": "snapshot", "delta": "delta"}
STORE_COLUMNS = ("store_id", "name", "latitude", "longitude")

StockKind = Literal["snapshot", "delta"]
# (row or record number, store_id, gtin, quantity or delta, as_of ISO text or None)
StockRow = tuple[int, str, str, int, str | None]


@dataclass(frozen=True)
class StoreRecord:
    store_id: str
    name: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class StockFile:
    """A stock file, checked as its rows are read (`rows()` raises MasterFileError)."""

    path: Path
    kind: StockKind
    digest: str  # of the file's bytes: a delta file is loaded once
    _text: str
    _format: Literal["csv", "json"]

    def rows(self) -> Iterator[StockRow]:
        checker = _RowChecker(self.path, self.kind)
        if self._format == "csv":
            yield from _csv_stock_rows(self.path, self._text, checker)
        else:
            yield from _json_stock_rows(self.path, self._text, self.kind, checker)


def valid_gtin(gtin: str) -> bool:
    """8, 12, 13 or 14 digits with a right GS1 check digit."""
    return bool(GTIN.match(gtin)) and gs1_standard_check_digit(gtin[:-1]) == int(gtin[-1])


def file_kind(path: Path) -> Literal["stores", "stock", "master"]:
    """What a master data file holds, from its CSV header or JSON keys (cheap: reads
    the header line or the top-level keys only)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as handle:
                header = set(next(csv.reader([handle.readline()]), []))
            if {"store_id", "gtin"} <= header and header & set(STOCK_COLUMNS):
                return "stock"
            if {"latitude", "longitude"} <= header:
                return "stores"
        elif suffix == ".json":
            keys = _json_top_keys(path)
            if keys & {"stock", "stock_deltas"}:
                return "stock"
            if "stores" in keys:
                return "stores"
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterFileError(f"{path}: cannot be read: {exc}") from None
    return "master"


def read_stock_file(path: Path) -> StockFile:
    """The stock file at `path`; its header (or keys) are checked now, its rows as read."""
    data = _read_bytes(path)
    text = _decode(path, data)
    digest = hashlib.sha256(data).hexdigest()
    if path.suffix.lower() == ".csv":
        header = next(csv.reader(io.StringIO(text)), [])
        kinds = [STOCK_COLUMNS[c] for c in header if c in STOCK_COLUMNS]
        if len(kinds) != 1:
            raise MasterFileError(
                f"{path}: row 1: a stock file has either a quantity column (a snapshot) or a"
                " delta column (movements), not both or neither"
            )
        allowed = {"store_id", "gtin", "as_of", *STOCK_COLUMNS}
        _check_header(path, header, ("store_id", "gtin"), allowed)
        return StockFile(path, kinds[0], digest, text, "csv")
    body = _json(path, text)
    keys = set(body) if isinstance(body, dict) else set()
    if not isinstance(body, dict) or len(keys & {"stock", "stock_deltas"}) != 1:
        raise MasterFileError(
            f'{path}: expected {{"stock": [...]}} (a snapshot) or {{"stock_deltas": [...]}}'
        )
    if keys - {"stock", "stock_deltas"}:
        raise MasterFileError(f"{path}: unknown key(s) {sorted(keys - {'stock', 'stock_deltas'})}")
    kind: StockKind = "snapshot" if "stock" in body else "delta"
    return StockFile(path, kind, digest, text, "json")


def read_stores_file(path: Path) -> list[StoreRecord]:
    """Every store in the file, checked; raises MasterFileError naming row and field."""
    text = _decode(path, _read_bytes(path))
    records: list[tuple[str, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        _check_header(path, list(reader.fieldnames or ()), STORE_COLUMNS[:2], set(STORE_COLUMNS))
        for row in reader:
            if None in row:
                raise MasterFileError(f"{path}: row {reader.line_num}: more cells than columns")
            records.append((f"row {reader.line_num}", row))
    else:
        body = _json(path, text)
        if not isinstance(body, dict) or set(body) != {"stores"}:
            raise MasterFileError(f'{path}: expected {{"stores": [...]}}')
        if not isinstance(body["stores"], list):
            raise MasterFileError(f"{path}: stores must be a list")
        for number, item in enumerate(body["stores"], 1):
            if not isinstance(item, dict):
                raise MasterFileError(f"{path}: stores record {number}: expected an object")
            unknown = sorted(set(item) - set(STORE_COLUMNS))
            if unknown:
                raise MasterFileError(f"{path}: stores record {number}: {unknown[0]}: unknown")
            records.append((f"stores record {number}", item))
    stores: list[StoreRecord] = []
    seen: dict[str, str] = {}
    for where, cells in records:
        store = _store(f"{path}: {where}", cells)
        if store.store_id in seen:
            raise MasterFileError(
                f"{path}: {where}: store_id: {store.store_id} is already in {seen[store.store_id]}"
            )
        seen[store.store_id] = where
        stores.append(store)
    return stores


class _RowChecker:
    """Checks one stock row; what it has seen once (a GTIN, a time) it does not parse
    again: a big file repeats the same few thousand values millions of times."""

    def __init__(self, path: Path, kind: StockKind) -> None:
        self.path = path
        self.kind = kind
        self.field = "quantity" if kind == "snapshot" else "delta"
        self._gtins: set[str] = set()
        self._stores: set[str] = set()
        self._times: dict[str, str] = {}

    def check(
        self, number: int, where: str, store_id: Any, gtin: Any, amount: Any, as_of: Any
    ) -> StockRow:
        """`where` names a JSON record; CSV rows pass "" and are named by `number`."""
        at = (number, where)
        if store_id not in self._stores:
            if not isinstance(store_id, str) or not STORE_ID.match(store_id):
                self.fail(at, "store_id", "lower-case letters, digits and - (a store id)")
            self._stores.add(store_id)
        if gtin not in self._gtins:
            self._gtin(at, gtin)
        if type(amount) is int or (type(amount) is str and amount.isdigit()):
            value = int(amount)  # the common case, checked cheaply
            if value > MAX_QUANTITY:
                self.fail(at, self.field, f"at most {MAX_QUANTITY:,} in absolute value")
        else:
            value = self._amount(at, amount)
        when = None
        if as_of is not None and as_of != "":
            when = self._times.get(as_of) if isinstance(as_of, str) else None
            if when is None:
                when = self._time(at, as_of)
        return (number, store_id, gtin, value, when)

    def fail(self, at: tuple[int, str], field: str, message: str) -> NoReturn:
        raise MasterFileError(f"{self.path}: {at[1] or f'row {at[0]}'}: {field}: {message}")

    def _gtin(self, at: tuple[int, str], gtin: Any) -> None:
        if not isinstance(gtin, str) or not GTIN.match(gtin):
            self.fail(at, "gtin", "8, 12, 13 or 14 digits")
        if gs1_standard_check_digit(gtin[:-1]) != int(gtin[-1]):
            self.fail(at, "gtin", f"{gtin} has a wrong check digit")
        self._gtins.add(gtin)

    def _amount(self, at: tuple[int, str], amount: Any) -> int:
        if isinstance(amount, bool) or not isinstance(amount, int | str | float):
            self.fail(at, self.field, "a whole number")
        try:
            value = int(amount)
        except ValueError:
            self.fail(at, self.field, "a whole number")
        if isinstance(amount, float) and amount != value:
            self.fail(at, self.field, "a whole number")
        if self.kind == "snapshot" and value < 0:
            self.fail(at, "quantity", "0 or more (a delta file carries movements)")
        if abs(value) > MAX_QUANTITY:
            self.fail(at, self.field, f"at most {MAX_QUANTITY:,} in absolute value")
        return value

    def _time(self, at: tuple[int, str], as_of: Any) -> str:
        example = "a time such as 2026-12-06T09:00:00Z"
        if not isinstance(as_of, str):
            self.fail(at, "as_of", example)
        try:
            moment = datetime.fromisoformat(as_of)
        except ValueError:
            self.fail(at, "as_of", example)
        if moment.tzinfo is None:
            self.fail(at, "as_of", "needs a time zone, e.g. Z for UTC")
        try:
            text = to_utc_iso(moment)
        except OverflowError:
            # A real offset on the first or last day of year 1 or 9999.
            self.fail(at, "as_of", f"{as_of} lies outside years 1-9999 once in UTC")
        self._times[as_of] = text
        return text


def to_utc_iso(moment: datetime) -> str:
    """The schema's time format (UTC, microseconds, Z), which sorts as text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _csv_stock_rows(path: Path, text: str, checker: _RowChecker) -> Iterator[StockRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    width = len(header)
    store_at, gtin_at = header.index("store_id"), header.index("gtin")
    amount_at = header.index(checker.field)
    as_of_at = header.index("as_of") if "as_of" in header else None
    check = checker.check
    for number, cells in enumerate(reader, 2):
        if len(cells) != width:
            if not cells:
                continue  # a blank line
            checker.fail((number, ""), "(row)", f"{len(cells)} cells for {width} columns")
        as_of = cells[as_of_at] if as_of_at is not None else None
        yield check(number, "", cells[store_at], cells[gtin_at], cells[amount_at], as_of)


def _json_stock_rows(
    path: Path, text: str, kind: StockKind, checker: _RowChecker
) -> Iterator[StockRow]:
    section = "stock" if kind == "snapshot" else "stock_deltas"
    items = json.loads(text)[section]
    if not isinstance(items, list):
        raise MasterFileError(f"{path}: {section} must be a list")
    allowed = {"store_id", "gtin", "as_of", checker.field}
    for number, item in enumerate(items, 1):
        where = f"{section} record {number}"
        if not isinstance(item, dict):
            checker.fail((number, where), "(record)", "expected an object")
        unknown = sorted(set(item) - allowed)
        if unknown:
            checker.fail((number, where), unknown[0], "unknown field")
        for name in ("store_id", "gtin", checker.field):
            if name not in item:
                checker.fail((number, where), name, "required")
        yield checker.check(number, where, item["store_id"], item["gtin"], item[checker.field],
                            item.get("as_of"))  # fmt: skip


def _store(where: str, cells: dict[str, Any]) -> StoreRecord:
    store_id = cells.get("store_id")
    if not isinstance(store_id, str) or not STORE_ID.match(store_id):
        raise MasterFileError(f"{where}: store_id: lower-case letters, digits and - (a store id)")
    name = cells.get("name")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 80:
        raise MasterFileError(f"{where}: name: 1 to 80 characters")
    latitude = _coordinate(where, "latitude", cells.get("latitude"), 90)
    longitude = _coordinate(where, "longitude", cells.get("longitude"), 180)
    if (latitude is None) != (longitude is None):
        missing = "latitude" if latitude is None else "longitude"
        raise MasterFileError(f"{where}: {missing}: both latitude and longitude, or neither")
    return StoreRecord(store_id, name.strip(), latitude, longitude)


def _coordinate(where: str, field: str, value: Any, limit: int) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not -limit <= number <= limit:
        raise MasterFileError(f"{where}: {field}: a number from -{limit} to {limit} (degrees)")
    return number


def _check_header(path: Path, header: list[str], required: tuple[str, ...], allowed: set) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        raise MasterFileError(f"{path}: row 1: missing column(s) {', '.join(missing)}")
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise MasterFileError(f"{path}: row 1: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        raise MasterFileError(f"{path}: row 1: a column appears twice")


def _json_top_keys(path: Path) -> set[str]:
    body = _json(path, path.read_text(encoding="utf-8-sig"))
    return set(body) if isinstance(body, dict) else set()


def _json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MasterFileError(f"{path}: not valid JSON: {exc}") from None


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MasterFileError(f"{path}: cannot be read: {exc}") from None


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MasterFileError(f"{path}: not UTF-8: {exc}") from None
