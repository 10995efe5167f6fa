"""The wallet and loyalty changes the centre sends down a store's feed.

- `pass.upserted`: a pass the centre issued, with its customer, so the store recognises
  it offline; also sent when the pass lands on or leaves a phone (`on_device`).
- `loyalty.balance`: the customer's balance as the centre counted it from every store,
  with the newest event of each of this store's devices already counted in, so the store
  adds only its own events the centre has not seen yet.
- `loyalty.conflict`: a coupon used more often than allowed, or points spent twice,
  across stores that were offline; sent to each store involved.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

PASS_UPSERTED = "pass.upserted"
LOYALTY_BALANCE = "loyalty.balance"
LOYALTY_CONFLICT = "loyalty.conflict"

Tier = Literal["bronze", "silver", "gold", "platinum"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class PassUpserted(_Strict):
    serial: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    kind: Literal["loyalty", "coupon"]
    platform: Literal["apple", "google"]
    status: Literal["active", "revoked"]
    # True once an Apple device registered the pass or Google said it was saved.
    on_device: bool = False


class LoyaltyBalance(_Strict):
    customer_id: str = Field(min_length=1, max_length=64)
    tier: Tier
    points: int = Field(ge=0)
    lifetime_points: int = Field(ge=0)
    # event source (/stores/{id}/devices/{device}) -> newest sequence counted
    counted_through: dict[str, int] = Field(default_factory=dict, max_length=64)


class LoyaltyConflict(_Strict):
    conflict_id: str = Field(min_length=1, max_length=64)
    kind: Literal["coupon", "points"]
    subject: str = Field(min_length=1, max_length=200)  # the coupon code, or customer:time
    customer_id: str | None = Field(None, max_length=64)
    stores: tuple[str, ...] = Field(min_length=1, max_length=64)
    detail: dict[str, Any]
    detected_at: AwareDatetime
