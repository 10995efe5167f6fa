"""What a subscriber receives: CloudEvents over HTTP, signed as Standard Webhooks say.

One event is a structured CloudEvent (`application/cloudevents+json`), its body the
event's JSON exactly as the store sent it. A subscriber that opts into batches gets a
CloudEvents JSON batch (`application/cloudevents-batch+json`) of one device's events in
sequence order. Every request carries `webhook-id` (the event id; for a batch, an id
derived from its events' ids), `webhook-timestamp` and `webhook-signature` with one
`v1,<base64 HMAC-SHA256>` per secret of the subscription, so a receiver verifies with
any Standard Webhooks library while secrets rotate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from sync.central.delivery.subscriptions import Subscription

STRUCTURED = "application/cloudevents+json; charset=utf-8"
BATCH = "application/cloudevents-batch+json; charset=utf-8"
USER_AGENT = "edge-central-delivery/1"
# A 4xx that says "this event will never be accepted": dead-lettered, and the device's
# later events go on. 400 malformed, 410 gone, 413 too large, 415 type refused,
# 422 unprocessable. Every other answer that is not 2xx (401/403/404 misconfiguration,
# 408/429 busy, 3xx, 5xx, timeouts) is retried with backoff: it can heal, and nothing
# is lost meanwhile.
NEVER = frozenset({400, 410, 413, 415, 422})
# Kept of a refusing answer's body, for the dead letter and the subscription's status.
RESPONSE_KEEP_BYTES = 2048


class Outcome(Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    NEVER = "never"


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    seq: int
    type: str
    envelope: str  # the CloudEvent's JSON as the store sent it


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: dict[str, str]


def build_request(sub: Subscription, events: Sequence[StoredEvent], batch: bool) -> Request:
    """The signed HTTP request carrying `events` (one unless `batch`)."""
    if batch:
        body = ("[" + ",".join(e.envelope for e in events) + "]").encode()
        message_id = batch_id(events)
        content_type = BATCH
    else:
        (event,) = events
        body = event.envelope.encode()
        message_id = event.event_id
        content_type = STRUCTURED
    now = datetime.now(UTC)
    signature = " ".join(s.sign(message_id, now, body) for s in sub.signers)
    return Request(
        body,
        {
            "content-type": content_type,
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
        },
    )


def batch_id(events: Sequence[StoredEvent]) -> str:
    """The same batch sent again has the same id; each event's id stays the key a
    receiver should deduplicate by."""
    digest = hashlib.sha256("\n".join(e.event_id for e in events).encode()).hexdigest()
    return f"batch_{digest[:32]}"


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    return Outcome.NEVER if status in NEVER else Outcome.RETRY
