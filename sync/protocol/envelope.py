"""CloudEvents 1.0 envelopes (structured JSON) for everything a store tells the centre.

Every event type has a version; `dataschema` names it, so the centre can validate and
evolve each type on its own. The store sequence is not part of the stored envelope:
the publisher stamps it from the outbox row (`sequence` extension attribute) because
the row number is only known once the row is written.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sync.protocol.clock import to_iso
from sync.protocol.event_schemas import schema_urn, validate_event_data

SPEC_VERSION = "1.0"
# The MQTT 5 binding, structured mode: the PUBLISH's Content Type names the event format.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
# The Sequence extension orders events by comparing `sequence` as text ("10" < "9"), so a
# sequence number travels zero-padded to a fixed width: 20 digits hold any 64-bit number.
SEQUENCE_DIGITS = 20

# Event type -> current schema version. A type missing here cannot be emitted, so a typo
# fails in the test suite, not at the centre.
EVENT_TYPES: dict[str, int] = {
    "scan.recorded": 1,
    "customer.identified": 1,
    "order.returned": 1,
    "order.collected": 1,
    "loyalty.points_changed": 1,
    "loyalty.tier_changed": 1,
    "coupon.redeemed": 1,
    "list.updated": 1,
    "pass.refused": 1,
    "pass.copy_suspected": 1,
    "pass.reissued": 1,
    "list.sent_to_staff": 1,
    "return.conflict_resolved": 1,
    "order.requested": 1,
}


class UnknownEventType(ValueError):
    pass


def build_event(
    *,
    event_type: str,
    store_id: str,
    device_id: str,
    subject: str | None,
    data: dict[str, Any],
    at: datetime,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A CloudEvent for `event_type` from this store and device, as a JSON-ready dict."""
    try:
        version = EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None
    validate_event_data(event_type, version, data)
    event: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": event_source(store_id, device_id),
        "type": event_type,
        "time": to_iso(at),
        "datacontenttype": "application/json",
        "dataschema": schema_urn(event_type, version),
        "data": data,
    }
    if subject is not None:
        event["subject"] = subject
    return event


def sequence_text(seq: int) -> str:
    """A sequence number as the `sequence` attribute carries it: text that sorts in the
    same order as the numbers (readers take it back with `int()`)."""
    return f"{seq:0{SEQUENCE_DIGITS}d}"


def event_source(store_id: str, device_id: str) -> str:
    return f"/stores/{store_id}/devices/{device_id}"
