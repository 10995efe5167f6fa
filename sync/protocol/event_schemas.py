"""One versioned schema per store event type: what `data` holds in each CloudEvent.

The store validates every event it appends (a malformed event fails the transaction that
would have emitted it, so an emitter bug shows up in the test suite, never at the
centre), and the centre validates what it receives (an older or a rogue agent's event is
refused with the reason, and the store parks it). `dataschema` names the type and
version; `edge-central schemas DIR` writes each one out as a JSON Schema document.

A new field that old readers can ignore is added as optional within the version; a
change that breaks readers is a new version, side by side with the old one.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import SchemaValidator

Id = Field(min_length=1, max_length=64)
OptionalId = Field(None, min_length=1, max_length=64)


class _Data(BaseModel):
    # Unknown fields are refused: a field nobody declared is a field nobody maintains.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ScanRecorded(_Data):
    source: str = Field(min_length=1, max_length=64)
    symbology: str | None = Field(None, max_length=16)
    kind: str = Field(min_length=1, max_length=32)
    outcome: str = Field(min_length=1, max_length=32)
    # Only codes that name no person (product, order number); never a loyalty ID.
    value: str | None = Field(None, max_length=128)
    scanned_at: datetime


class CustomerIdentified(_Data):
    customer_id: str = Id
    method: Literal["loyalty_id", "email", "phone", "pass"]
    channel: Literal["scan", "typed"]
    source: str = Field(min_length=1, max_length=64)
    till_id: str | None = OptionalId
    pass_serial: str | None = OptionalId


class ReturnedLine(_Data):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1)
    # How many the order line had: the centre needs it to find a line returned at two
    # stores for more than was bought. Optional: older agents do not send it.
    ordered_quantity: int | None = Field(None, ge=1)
    refund_minor: int = Field(ge=0)
    reason: str | None = Field(None, max_length=200)


class Refund(_Data):
    method: Literal["original_payment", "store_credit"]
    amount_minor: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class OrderReturned(_Data):
    return_id: str = Id
    order_number: str = Field(min_length=1, max_length=32)
    customer_id: str | None = OptionalId
    lines: tuple[ReturnedLine, ...] = Field(min_length=1)
    refund: Refund
    offline: bool
    staff_id: str = Id
    till_id: str | None = OptionalId
    approved_by: str | None = OptionalId


class OrderCollected(_Data):
    pickup_id: str = Id
    order_number: str = Field(min_length=1, max_length=32)
    customer_id: str | None = OptionalId
    staff_id: str = Id
    till_id: str | None = OptionalId


class PointsChanged(_Data):
    customer_id: str = Id
    delta: int
    points: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=32)
    reference: str | None = Field(None, max_length=64)


Tier = Literal["bronze", "silver", "gold", "platinum"]


class TierChanged(_Data):
    customer_id: str = Id
    from_tier: Tier = Field(alias="from")
    to_tier: Tier = Field(alias="to")


class CouponRedeemed(_Data):
    code: str = Field(min_length=1, max_length=64)
    customer_id: str | None = OptionalId
    sale_reference: str = Field(min_length=1, max_length=64)
    points_spent: int | None = Field(None, ge=0)
    till_id: str | None = OptionalId
    # How often the coupon may be used in all, so the centre can tell a coupon used at
    # two stores while offline (optional within v1: older agents do not send it).
    max_redemptions: int | None = Field(None, ge=1)
    offline: bool | None = None


class ListUpdated(_Data):
    list_id: str = Id
    customer_id: str | None = OptionalId
    change: str = Field(min_length=1, max_length=32)
    gtin: str | None = Field(None, max_length=20)
    quantity: int | None = Field(None, ge=0)


class ListSentToStaff(_Data):
    list_id: str = Id
    customer_id: str | None = OptionalId
    item_count: int = Field(ge=0)
    source: str = Field(min_length=1, max_length=64)


class PassRefused(_Data):
    reason: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=64)
    till_id: str | None = OptionalId


class PassCopySuspected(_Data):
    pass_serial: str = Id
    store_id: str = Id
    other_store_ids: tuple[str, ...] = Field(min_length=1)
    seen_at: datetime
    window_minutes: int = Field(ge=1)


class PassReissued(_Data):
    pass_serial: str = Id
    platform: Literal["apple", "google", "paper"]
    notified: bool


class ReturnConflictResolved(_Data):
    conflict_id: str = Id
    order_number: str = Field(min_length=1, max_length=32)
    line_no: int = Field(ge=1)
    # The conflict's total returned when it was settled: a later return elsewhere raises
    # it, and the centre then knows this resolution did not cover that one.
    returned_quantity: int = Field(ge=1)
    resolved_by: str = Id
    note: str = Field(min_length=1, max_length=500)


class RequestedLine(_Data):
    gtin: str = Field(pattern=r"^(\d{8}|\d{12,14})$")
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    category: str | None = Field(None, max_length=64)
    colour: str | None = Field(None, max_length=64)
    size: str | None = Field(None, max_length=32)
    quantity: int = Field(ge=1, le=99)
    unit_price_minor: int = Field(ge=0)


# The number a store gives the order it asks for: R + 16 hex digits, never one of the
# web shop's (so no store and no web order can collide).
REQUESTED_ORDER_NUMBER = r"^R[0-9A-F]{16}$"


class OrderRequested(_Data):
    """Staff asked, for an identified customer, for what this store lacks: to collect
    at another store, or delivered home. The centre makes it an order of its master
    data, once per event id."""

    order_number: str = Field(pattern=REQUESTED_ORDER_NUMBER)
    customer_id: str = Id
    fulfilment: Literal["click_and_collect", "delivery"]
    pickup_store_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    lines: tuple[RequestedLine, ...] = Field(min_length=1, max_length=20)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    total_minor: int = Field(ge=0)
    staff_id: str = Id
    till_id: str | None = OptionalId

    @model_validator(mode="after")
    def _pickup_store_when_collected(self) -> OrderRequested:
        if (self.fulfilment == "click_and_collect") != (self.pickup_store_id is not None):
            raise ValueError("pickup_store_id is given for click_and_collect, and only then")
        if self.total_minor != sum(ln.quantity * ln.unit_price_minor for ln in self.lines):
            raise ValueError("total_minor is not the sum of the lines")
        return self


# (type, version) -> the schema of its data. `sync.protocol.envelope.EVENT_TYPES` says which
# version a store emits now; the centre accepts every version listed here.
EVENT_SCHEMAS: dict[tuple[str, int], type[_Data]] = {
    ("scan.recorded", 1): ScanRecorded,
    ("customer.identified", 1): CustomerIdentified,
    ("order.returned", 1): OrderReturned,
    ("order.collected", 1): OrderCollected,
    ("loyalty.points_changed", 1): PointsChanged,
    ("loyalty.tier_changed", 1): TierChanged,
    ("coupon.redeemed", 1): CouponRedeemed,
    ("list.updated", 1): ListUpdated,
    ("list.sent_to_staff", 1): ListSentToStaff,
    ("pass.refused", 1): PassRefused,
    ("pass.copy_suspected", 1): PassCopySuspected,
    ("pass.reissued", 1): PassReissued,
    ("return.conflict_resolved", 1): ReturnConflictResolved,
    ("order.requested", 1): OrderRequested,
}


class EventDataInvalid(ValueError):
    """The data does not match its type's schema; the message says where."""


def schema_urn(event_type: str, version: int) -> str:
    return f"urn:edge-agent:schema:{event_type}:{version}"


def parse_schema_urn(urn: object) -> tuple[str, int] | None:
    """`urn:edge-agent:schema:<type>:<version>` -> (type, version)."""
    return _parse_urn(urn) if isinstance(urn, str) else None


# The centre reads this for every event it takes, and a fleet sends a handful of
# distinct values; bounded, so junk from a rogue sender cannot grow it.
@functools.lru_cache(maxsize=256)
def _parse_urn(urn: str) -> tuple[str, int] | None:
    if not urn.startswith("urn:edge-agent:schema:"):
        return None
    event_type, _, version = urn.removeprefix("urn:edge-agent:schema:").rpartition(":")
    return (event_type, int(version)) if version.isdigit() and event_type else None


@functools.cache
def _validator(event_type: str, version: int) -> SchemaValidator:
    """A validator of the schema's fields that builds no model instance (a quarter less
    time per event, and the centre checks every event it takes); the model's own when
    the model checks more than its fields. Built on first use: the store rarely needs
    one, and start-up time is the till's."""
    schema = EVENT_SCHEMAS[(event_type, version)]
    core = schema.__pydantic_core_schema__
    if (
        core["type"] == "model"
        and core["schema"]["type"] == "model-fields"
        and not core.get("custom_init")
    ):
        return SchemaValidator(core["schema"], core.get("config"))
    return schema.__pydantic_validator__  # type: ignore[return-value]


def validate_event_data(event_type: str, version: int, data: Any) -> None:
    """Raise EventDataInvalid unless `data` matches the schema of (type, version)."""
    # Checked first: only known keys reach the cache, whatever a sender makes up.
    if (event_type, version) not in EVENT_SCHEMAS:
        raise EventDataInvalid(f"no schema for {event_type} version {version}")
    try:
        _validator(event_type, version).validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "data"
        raise EventDataInvalid(f"{event_type} v{version}: {where}: {first['msg']}") from None


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every schema as a JSON Schema document, by file name (`<type>.v<version>.json`)."""
    documents = {}
    for (event_type, version), schema in sorted(EVENT_SCHEMAS.items()):
        document = schema.model_json_schema(by_alias=True)
        document["$id"] = schema_urn(event_type, version)
        document["title"] = f"{event_type} v{version}"
        documents[f"{event_type}.v{version}.json"] = document
    return documents
