"""Stock here and in the other stores, size by size.

Here: the centre's figure per GTIN (change `stock.levels`, as of a time) plus this
store's own sales and returns recorded after that time; the sum is kept in
`products.stock_here`, which every screen reads, so "stock here" answers offline. The
centre's next figure replaces the local view (it counts those movements by then).

Elsewhere: asked of the centre live (`CentreLookup.fetch_stock_elsewhere`) for all the
product's variants at once, nearest stores first; offline, or without an answer in
time, the answer says so instead of guessing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlite_utils import Database

from edge_agent.centre import CentreAnswer, CentreLookup, OtherStoreStock
from edge_agent.context import AgentContext
from edge_agent.errors import InvalidInput, NotFound
from edge_agent.orders import lookup_budget
from edge_agent.staff import Actor, audit
from sync.protocol.clock import to_iso
from sync.protocol.stock import STOCK_GTINS_MAX, StockLevels

GTIN = re.compile(r"^(\d{8}|\d{12,14})$")
ElsewhereStatus = Literal["found", "none", "offline", "late"]
MovementReason = Literal["sale", "return"]


@dataclass(frozen=True)
class VariantHere:
    gtin: str
    size: str | None
    colour: str | None
    stock_here: int


@dataclass(frozen=True)
class ProductStock:
    """A product's variants (sizes, colours) with stock here and in other stores."""

    gtin: str  # the one asked about
    name: str
    style: str | None
    variants: tuple[VariantHere, ...]
    elsewhere_status: ElsewhereStatus
    elsewhere: tuple[OtherStoreStock, ...]  # nearest first; only when "found"
    # A sentence for the till when the other stores could not be asked.
    elsewhere_message: str | None


@dataclass(frozen=True)
class RecordedMovement:
    reference: str
    reason: MovementReason
    recorded: int  # lines newly counted (a repeat of the same reference counts 0)


def product_stock(ctx: AgentContext, gtin: str, centre: CentreLookup | None) -> ProductStock:
    """Stock of the product `gtin` belongs to, every variant: here from the device, the
    other stores from the centre within the look-up deadline."""
    started = time.monotonic()
    db = ctx.store.db
    row = db.execute("SELECT name, style FROM products WHERE gtin = ?", [gtin]).fetchone()
    if row is None:
        raise NotFound(f"product {gtin} is not in this store's catalogue")
    name, style = row
    variants = tuple(
        VariantHere(*r)
        for r in db.execute(
            "SELECT gtin, size, colour, stock_here FROM products WHERE"
            " (style = ? OR gtin = ?) ORDER BY colour, rowid LIMIT ?",
            [style, gtin, STOCK_GTINS_MAX],
        ).fetchall()
    )
    if centre is None:
        return ProductStock(gtin, name, style, variants, "offline", (), _why(CentreAnswer.OFFLINE))
    # Only real GTINs go on the wire (a catalogue may hold in-store codes too).
    gtins = [v.gtin for v in variants if GTIN.match(v.gtin)]
    asked = centre.fetch_stock_elsewhere(gtins, lookup_budget(ctx, started))
    if asked.answer is CentreAnswer.FOUND:
        return ProductStock(gtin, name, style, variants, "found", asked.stores, None)
    if asked.answer is CentreAnswer.NOT_FOUND:
        return ProductStock(gtin, name, style, variants, "none", (), None)
    status: ElsewhereStatus = "offline" if asked.answer is CentreAnswer.OFFLINE else "late"
    return ProductStock(gtin, name, style, variants, status, (), _why(asked.answer))


def stock_here(db: Database, gtins: Iterable[str]) -> dict[str, int]:
    """This store's view of its stock, by GTIN (GTINs not in the catalogue are left out)."""
    wanted = list(dict.fromkeys(gtins))
    marks = ", ".join("?" * len(wanted))
    rows = db.execute(
        f"SELECT gtin, stock_here FROM products WHERE gtin IN ({marks})", wanted
    ).fetchall()
    return {gtin: max(0, quantity) for gtin, quantity in rows}


def apply_stock_levels(db: Database, levels: StockLevels, at: datetime) -> None:
    """The centre's figures (change `stock.levels`), inside the caller's transaction.
    A figure older than the one held is ignored (a replayed or reordered change)."""
    received = to_iso(at)
    for level in levels.levels:
        as_of = to_iso(level.as_of)
        db.execute(
            "INSERT INTO stock_levels (gtin, quantity, as_of, received_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (gtin) DO UPDATE SET quantity = excluded.quantity,"
            " as_of = excluded.as_of, received_at = excluded.received_at"
            " WHERE excluded.as_of >= stock_levels.as_of",
            [level.gtin, level.quantity, as_of, received],
        )
        _refresh_here(db, level.gtin, received)


def record_movements(
    ctx: AgentContext,
    reference: str,
    reason: MovementReason,
    lines: list[tuple[str, int]],
    *,
    actor: Actor,
) -> RecordedMovement:
    """A sale (stock leaves) or a return (stock comes back) recorded at this store: the
    local view moves at once. Counted once per reference, reason and GTIN."""
    if not lines or len(lines) > 100:
        raise InvalidInput("a sale or return has 1 to 100 lines")
    now = ctx.clock()
    with ctx.store.transaction() as db:
        known = stock_here(db, [gtin for gtin, _ in lines])
        unknown = [gtin for gtin, _ in lines if gtin not in known]
        if unknown:
            raise NotFound(f"product {unknown[0]} is not in this store's catalogue")
        recorded = add_movements(db, reference, reason, lines, now)
        audit(db, actor, f"stock.{reason}", reference, None, now)
    return RecordedMovement(reference, reason, recorded)


def add_movements(
    db: Database,
    reference: str,
    reason: MovementReason,
    lines: Iterable[tuple[str, int]],
    at: datetime,
) -> int:
    """Count movements inside the caller's transaction (a return confirmed at the till
    calls this with its return id); returns how many were new."""
    sign = -1 if reason == "sale" else 1
    now = to_iso(at)
    recorded = 0
    totals: dict[str, int] = {}
    for gtin, quantity in lines:
        if quantity <= 0:
            raise InvalidInput("a quantity is 1 or more")
        totals[gtin] = totals.get(gtin, 0) + quantity  # two lines of one GTIN count as one
    for gtin, quantity in totals.items():
        new = db.execute(
            "INSERT OR IGNORE INTO stock_movements (gtin, delta, reason, reference, at)"
            " VALUES (?, ?, ?, ?, ?)",
            [gtin, sign * quantity, reason, reference, now],
        ).rowcount
        if not new:
            continue
        recorded += 1
        if not _refresh_here(db, gtin, now):
            # No figure from the centre yet: move the catalogue's own count.
            db.execute(
                "UPDATE products SET stock_here = MAX(0, stock_here + ?), updated_at = ?"
                " WHERE gtin = ?",
                [sign * quantity, now, gtin],
            )
    return recorded


def _refresh_here(db: Database, gtin: str, now: str) -> bool:
    """Set the local view from the centre's figure and the movements since; False when
    the centre has sent no figure for this GTIN."""
    return bool(
        db.execute(
            "UPDATE products SET updated_at = ?, stock_here = MAX(0, (SELECT l.quantity"
            " + COALESCE((SELECT SUM(m.delta) FROM stock_movements m WHERE m.gtin = l.gtin"
            " AND m.at > l.as_of), 0) FROM stock_levels l WHERE l.gtin = products.gtin))"
            " WHERE gtin = ? AND EXISTS (SELECT 1 FROM stock_levels WHERE gtin = ?)",
            [now, gtin, gtin],
        ).rowcount
    )


def _why(answer: CentreAnswer) -> str:
    if answer is CentreAnswer.OFFLINE:
        return "The other stores cannot be asked: the store is offline. Try again later."
    return "The centre did not answer in time. Try again in a moment."
