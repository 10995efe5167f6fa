"""Stores and stock files shared by the stock tests."""

from __future__ import annotations

import csv
from pathlib import Path

from biip.checksums import gs1_standard_check_digit

# Madrid centre, Madrid north (~6 km), Barcelona (~500 km), and a store with no location.
STORES = [
    ("store-a", "Madrid Centro", "40.4168", "-3.7038"),
    ("store-b", "Madrid Norte", "40.4700", "-3.6900"),
    ("store-c", "Barcelona", "41.3874", "2.1686"),
    ("store-d", "Pop-up", "", ""),
]


def gtin(n: int) -> str:
    body = f"8400001{n:05d}"
    return body + str(gs1_standard_check_digit(body))


def write_rows(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_stores(path: Path) -> Path:
    return write_rows(
        path, ["store_id", "name", "latitude", "longitude"], [list(s) for s in STORES]
    )


def write_snapshot(path: Path, levels: dict[tuple[str, str], int], as_of: str = "") -> Path:
    header = ["store_id", "gtin", "quantity"] + (["as_of"] if as_of else [])
    rows = [[s, g, q] + ([as_of] if as_of else []) for (s, g), q in levels.items()]
    return write_rows(path, header, rows)


def write_deltas(path: Path, deltas: list[tuple[str, str, int]]) -> Path:
    return write_rows(path, ["store_id", "gtin", "delta"], [list(d) for d in deltas])
