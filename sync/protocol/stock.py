"""Stock on the wire: a store's own levels down its change feed (`stock.levels`), and
the centre's answer to "who else has these GTINs" (a look-up).

Levels are coalesced at the centre: one `stock.levels` change carries every level of
the store that moved since the last one (in chunks of at most LEVELS_PER_CHANGE), each
with the time of the centre's figure, so the store knows which of its own sales and
returns that figure already counts. The store keeps them with
`edge_agent.stock.apply_stock_levels`.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

STOCK_LEVELS = "stock.levels"
# ~70 bytes a level: a change stays far below the feed's 256 KiB limit, and a first
# full load of 20,000 GTINs is 20 changes for the store, not 20,000.
LEVELS_PER_CHANGE = 1000
# A product's variants asked about at once (sizes x colours of one style).
STOCK_GTINS_MAX = 60
# The most stores one answer lists: the till shows the nearest few, and the answer stays
# a few kilobytes whatever the size of the chain.
ELSEWHERE_STORES_MAX = 50

Gtin = Field(pattern=r"^(\d{8}|\d{12,14})$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class StockLevel(_Strict):
    gtin: str = Gtin
    # The centre's figure may be below 0 (sold before it was booked in); shown as 0.
    quantity: int = Field(ge=-1_000_000, le=1_000_000)
    as_of: AwareDatetime


class StockLevels(_Strict):
    levels: tuple[StockLevel, ...] = Field(min_length=1, max_length=LEVELS_PER_CHANGE)


class StoreStock(_Strict):
    """One other store's stock of the asked GTINs (only those it has: quantity > 0)."""

    store_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    name: str = Field(min_length=1, max_length=80)
    distance_km: float | None = Field(None, ge=0)
    levels: dict[str, int] = Field(max_length=STOCK_GTINS_MAX)


class StockElsewhere(_Strict):
    stores: tuple[StoreStock, ...] = Field((), max_length=ELSEWHERE_STORES_MAX)
