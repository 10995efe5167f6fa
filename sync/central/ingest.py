"""Writing store events at the centre: idempotent by event id, acked after commit.

`ingest_batch` takes the raw messages a worker received, writes the good ones in one
transaction and returns, per store, the ids to acknowledge and the ones refused (with
reasons). The caller publishes the acks only after this returns, i.e. after the commit:
an ack therefore always means "the centre has it on disk".
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from edge_agent.clock import iso_now
from sync.central.conflicts import StoreChange, on_ingested
from sync.central.db import CentralDb
from sync.event_schemas import EventDataInvalid, parse_schema_urn, validate_event_data
from sync.topics import store_id_from_topic

log = logging.getLogger(__name__)

# Larger events are refused (and the store parks them): the biggest real one, a return
# with its lines, is a few kilobytes.
MAX_EVENT_BYTES = 256 * 1024


@dataclass
class StoreAcks:
    ids: list[str] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)

    def payload(self) -> bytes:
        # `at`: sent after the commit, so stores can measure their clocks against ours.
        body = {"ids": self.ids, "rejected": self.rejected, "at": iso_now()}
        return json.dumps(body).encode()


@dataclass
class IngestResult:
    acks: dict[str, StoreAcks]
    inserted: int = 0
    duplicates: int = 0
    unreadable: int = 0
    # Feed changes that follow from these events, committed with them: publish after.
    changes: list[StoreChange] = field(default_factory=list)


@dataclass(frozen=True)
class _Event:
    event_id: str
    store_id: str
    source: str
    seq: int
    type: str
    time: str
    envelope: str


class _Refused(ValueError):
    def __init__(self, event_id: str | None, reason: str) -> None:
        super().__init__(reason)
        self.event_id = event_id
        self.reason = reason


def ingest_batch(db: CentralDb, prefix: str, messages: list[tuple[str, bytes]]) -> IngestResult:
    """Write the events in `messages` (topic, payload) in one transaction."""
    result = IngestResult(acks=defaultdict(StoreAcks))
    now = iso_now()
    events: list[_Event] = []
    refused: list[tuple[str, str, str, str]] = []  # store, event id, reason, payload
    for topic, payload in messages:
        store_id = store_id_from_topic(prefix, topic)
        if store_id is None:
            result.unreadable += 1
            continue
        try:
            events.append(_read_event(store_id, payload))
        except _Refused as exc:
            if exc.event_id is None:
                # Without an id there is nothing to ack or park; the store resends it
                # and an operator sees it in the log.
                log.warning("unreadable event from store %s: %s", store_id, exc.reason)
                result.unreadable += 1
            else:
                refused.append(
                    (store_id, exc.event_id, exc.reason, payload.decode("utf-8", "replace"))
                )
    touched: dict[str, str] = {}
    fresh: list[_Event] = []
    with db.transaction():
        for event in events:
            cursor = db.execute(
                "INSERT INTO events (event_id, store_id, source, seq, type, time, envelope,"
                " received_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (event_id) DO NOTHING",
                [
                    event.event_id,
                    event.store_id,
                    event.source,
                    event.seq,
                    event.type,
                    event.time,
                    event.envelope,
                    now,
                ],
            )
            if cursor.rowcount:
                result.inserted += 1
                touched[event.source] = event.store_id
                fresh.append(event)
            else:
                result.duplicates += 1
        result.changes = on_ingested(db, fresh)
        for store_id, event_id, reason, payload_text in refused:
            db.execute(
                "INSERT INTO rejected_events (event_id, store_id, reason, payload, received_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING",
                [event_id, store_id, reason, payload_text, now],
            )
        # Sorted: two workers lock the same sources in the same order, never deadlock.
        for source, store_id in sorted(touched.items()):
            _advance_sequence(db, source, store_id, now)
    for event in events:
        result.acks[event.store_id].ids.append(event.event_id)
    for store_id, event_id, reason, _ in refused:
        result.acks[store_id].rejected.append({"id": event_id, "reason": reason})
    return result


def _read_event(store_id: str, payload: bytes) -> _Event:
    if len(payload) > MAX_EVENT_BYTES:
        raise _Refused(_peek_id(payload), f"event too large ({len(payload)} bytes)")
    try:
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise _Refused(None, "not JSON") from None
    if not isinstance(event, dict):
        raise _Refused(None, "not a JSON object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 64:
        raise _Refused(None, "no usable event id")
    if event.get("specversion") != "1.0":
        raise _Refused(event_id, "not a CloudEvents 1.0 event")
    source = event.get("source")
    # A store publishes only under its own topic (broker ACL); its events must also say
    # they come from that store, or one store could write into another's history.
    if not isinstance(source, str) or not source.startswith(f"/stores/{store_id}/devices/"):
        raise _Refused(event_id, f"source {source!r} is not a device of store {store_id}")
    try:
        seq = int(event.get("sequence"))
    except (TypeError, ValueError):
        raise _Refused(event_id, "no store sequence") from None
    if seq < 1:
        raise _Refused(event_id, "store sequence must be positive")
    event_type, time = event.get("type"), event.get("time")
    if not isinstance(event_type, str) or not isinstance(time, str):
        raise _Refused(event_id, "type and time are required")
    schema = parse_schema_urn(event.get("dataschema"))
    if schema is None or schema[0] != event_type:
        raise _Refused(
            event_id, f"dataschema {event.get('dataschema')!r} does not name {event_type}"
        )
    try:
        validate_event_data(event_type, schema[1], event.get("data"))
    except EventDataInvalid as exc:
        raise _Refused(event_id, str(exc)) from None
    return _Event(event_id, store_id, source, seq, event_type, time, payload.decode())


def _peek_id(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= 64 else None


def _advance_sequence(db: CentralDb, source: str, store_id: str, now: str) -> None:
    db.execute(
        "INSERT INTO sources (source, store_id, contiguous_seq, max_seq, updated_at)"
        " VALUES (%s, %s, 0, 0, %s) ON CONFLICT (source) DO NOTHING",
        [source, store_id, now],
    )
    # Several workers may write the same device's events at once: the row lock makes
    # them take turns here, and each then sees the others' committed events.
    lock = " FOR UPDATE" if db.postgres else ""
    contiguous = db.execute(
        f"SELECT contiguous_seq FROM sources WHERE source = %s{lock}", [source]
    ).fetchone()[0]
    seqs = [
        r[0]
        for r in db.execute(
            "SELECT seq FROM events WHERE source = %s AND seq > %s ORDER BY seq LIMIT 100000",
            [source, contiguous],
        ).fetchall()
    ]
    for seq in seqs:
        if seq != contiguous + 1:
            break
        contiguous = seq
    highest = max([contiguous, *seqs])
    db.execute(
        "UPDATE sources SET contiguous_seq = %s, max_seq = %s, updated_at = %s WHERE source = %s",
        [contiguous, highest, now, source],
    )
