"""Shopping lists a customer built online, at the kiosk or with staff: open, add, remove."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from edge_agent.context import AgentContext
from edge_agent.domain import Money
from edge_agent.errors import CustomerNotFound, InputRefused, InvalidInput, NotFound
from edge_agent.i18n import Phrase
from edge_agent.outbox import append_event
from edge_agent.products import GTIN_PATTERN
from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from sync.protocol.clock import from_iso, to_iso

ListSource = Literal["online", "kiosk", "till"]
MAX_QUANTITY = 99


@dataclass(frozen=True)
class ListItem:
    gtin: str
    name: str | None  # None when the product is not in this store's catalogue
    size: str | None
    price: Money | None
    stock_here: int
    quantity: int


@dataclass(frozen=True)
class ShoppingList:
    list_id: str
    customer_id: str | None
    name: str
    source: str
    updated_at: datetime
    items: tuple[ListItem, ...]


def customer_lists(ctx: AgentContext, customer_id: str) -> tuple[ShoppingList, ...]:
    rows = ctx.store.db.execute(
        "SELECT id FROM shopping_lists WHERE customer_id = ? ORDER BY updated_at DESC",
        [customer_id],
    ).fetchall()
    return tuple(get_list(ctx, row[0]) for row in rows)


def get_list(ctx: AgentContext, list_id: str) -> ShoppingList:
    db = ctx.store.db
    row = db.execute(
        "SELECT id, customer_id, name, source, updated_at FROM shopping_lists WHERE id = ?",
        [list_id],
    ).fetchone()
    if row is None:
        raise NotFound(Phrase("shopping list %(id)s is not on this device", id=list_id))
    items = db.execute(
        "SELECT i.gtin, p.name, p.size, p.price_minor, p.currency, COALESCE(p.stock_here, 0),"
        " i.quantity FROM shopping_list_items i LEFT JOIN products p ON p.gtin = i.gtin"
        " WHERE i.list_id = ? ORDER BY i.added_at, i.gtin",
        [list_id],
    ).fetchall()
    return ShoppingList(
        list_id=row[0], customer_id=row[1], name=row[2], source=row[3],
        updated_at=from_iso(row[4]),
        items=tuple(
            ListItem(i[0], i[1], i[2], Money(i[3], i[4]) if i[3] is not None else None, i[5], i[6])
            for i in items
        ),
    )  # fmt: skip


def create_list(
    ctx: AgentContext, customer_id: str | None, name: str, source: ListSource
) -> ShoppingList:
    if not name.strip() or len(name) > 80:
        raise InputRefused(Phrase("a list needs a name of 1 to 80 characters"))
    list_id = f"L-{uuid.uuid4().hex[:12]}"
    now = to_iso(ctx.clock())
    with ctx.store.transaction() as db:
        if (
            customer_id is not None
            and not db.execute("SELECT 1 FROM customers WHERE id = ?", [customer_id]).fetchone()
        ):
            raise CustomerNotFound(Phrase("this customer is not in the store's cache"))
        db.execute(
            "INSERT INTO shopping_lists (id, customer_id, name, source, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [list_id, customer_id, name.strip(), source, now, now],
        )
        _event(ctx, db, list_id, customer_id, "created", None, 0)
    return get_list(ctx, list_id)


def set_item(ctx: AgentContext, list_id: str, gtin: str, quantity: int) -> ShoppingList:
    """Put `quantity` of a product on the list (0 removes it)."""
    if looks_like_card_data(gtin):
        # Typed into the wrong field: refused unseen, so it never reaches the outbox.
        raise InvalidInput(CARD_DATA_REASON)
    if not 0 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(Phrase("a quantity is 0 to %(most)s", most=MAX_QUANTITY))
    # Checked before anything is written: the list.updated event would refuse it after.
    if not re.fullmatch(GTIN_PATTERN, gtin):
        raise InvalidInput(Phrase("that is not a product barcode (8, 12, 13 or 14 digits)"))
    now = to_iso(ctx.clock())
    with ctx.store.transaction() as db:
        owner = db.execute("SELECT customer_id FROM shopping_lists WHERE id = ?", [list_id])
        row = owner.fetchone()
        if row is None:
            raise NotFound(Phrase("shopping list %(id)s is not on this device", id=list_id))
        if quantity == 0:
            db.execute(
                "DELETE FROM shopping_list_items WHERE list_id = ? AND gtin = ?", [list_id, gtin]
            )
        else:
            if not db.execute("SELECT 1 FROM products WHERE gtin = ?", [gtin]).fetchone():
                raise NotFound(
                    Phrase("product %(gtin)s is not in this store's catalogue", gtin=gtin)
                )
            db.execute(
                "INSERT INTO shopping_list_items (list_id, gtin, quantity, added_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (list_id, gtin)"
                " DO UPDATE SET quantity = excluded.quantity",
                [list_id, gtin, quantity, now],
            )
        db.execute("UPDATE shopping_lists SET updated_at = ? WHERE id = ?", [now, list_id])
        _event(ctx, db, list_id, row[0], "item_set", gtin, quantity)
    return get_list(ctx, list_id)


def _event(ctx, db, list_id, customer_id, change, gtin, quantity) -> None:
    append_event(db, ctx.origin, "list.updated", list_id, {
        "list_id": list_id, "customer_id": customer_id, "change": change, "gtin": gtin,
        "quantity": quantity,
    }, at=ctx.clock())  # fmt: skip
