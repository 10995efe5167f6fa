"""The `return.conflict` change: an order line returned at two or more stores, for more
than was bought. Each store saw only its own return while offline; the centre saw both
and tells every store involved, so no till refunds that line again.

The store keeps it with `edge_agent.conflicts.apply_return_conflict`.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

RETURN_CONFLICT = "return.conflict"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ConflictingReturn(_Strict):
    """One store's return of the line. No names: store, return and amounts only."""

    store_id: str = Field(min_length=1, max_length=64)
    return_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1)
    refund_minor: int = Field(ge=0)
    returned_at: AwareDatetime


class ReturnConflict(_Strict):
    conflict_id: str = Field(min_length=1, max_length=64)
    order_number: str = Field(min_length=1, max_length=32)
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1, max_length=64)
    ordered_quantity: int = Field(ge=1)
    returned_quantity: int = Field(ge=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    returns: tuple[ConflictingReturn, ...] = Field(min_length=2)
    detected_at: AwareDatetime
