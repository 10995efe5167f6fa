"""Products in this store's catalogue, as the kiosk shows them after a barcode scan."""

from __future__ import annotations

from dataclasses import dataclass

from edge_agent.context import AgentContext
from edge_agent.domain import Money
from edge_agent.errors import NotFound
from edge_agent.i18n import Phrase

# A GTIN-8, -12, -13 or -14 as the catalogue stores it (digits only; the check digit is
# checked where a barcode is read).
GTIN_PATTERN = r"^[0-9]{8}$|^[0-9]{12,14}$"


@dataclass(frozen=True)
class Product:
    gtin: str
    sku: str
    name: str
    category: str | None
    colour: str | None
    size: str | None
    price: Money
    stock_here: int


def find_product(ctx: AgentContext, gtin: str) -> Product:
    row = ctx.store.db.execute(
        "SELECT gtin, sku, name, category, colour, size, price_minor, currency, stock_here"
        " FROM products WHERE gtin = ?",
        [gtin],
    ).fetchone()
    if row is None:
        raise NotFound(Phrase("product %(gtin)s is not in this store's catalogue", gtin=gtin))
    gtin, sku, name, category, colour, size, price_minor, currency, stock = row
    return Product(gtin, sku, name, category, colour, size, Money(price_minor, currency), stock)
