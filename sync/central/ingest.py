"""Writing store events at the centre: idempotent by event id, acked after commit.

`ingest_batch` takes the raw messages a worker received (one event each, or a batch of
events, see sync.protocol.batches), writes the good ones in one transaction and returns, per
store, what to acknowledge (sync.protocol.acks: sequence ranges for batches, ids for single
events) and what was refused (with reasons). The caller publishes the acks only after
this returns, i.e. after the commit: an ack therefore always means "the centre has it
on disk".
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from hashlib import sha256 as _sha256
from operator import itemgetter
from typing import Annotated, Any, Literal, NamedTuple

import msgspec

from sync.central.compiled_schemas import data_decoder
from sync.central.conflicts import RESOLVED, RETURNED, StoreChange, on_ingested
from sync.central.db import CentralDb, in_lists
from sync.central.integrity import Alarm, ChainLink, verify_chains
from sync.central.order_collections import COLLECTED, on_orders_collected
from sync.central.order_requests import REQUESTED, on_orders_requested
from sync.central.wallet.loyalty import LOYALTY_TYPES, on_loyalty_events
from sync.protocol.acks import AckBuilder
from sync.protocol.batches import is_batch, split_batch
from sync.protocol.chain import CHAIN_ATTRIBUTE, event_hash, is_link
from sync.protocol.clock import from_iso, iso_now, utc_time
from sync.protocol.envelope import event_source
from sync.protocol.event_schemas import EventDataInvalid, parse_schema_urn, validate_event_data
from sync.protocol.topics import store_id_from_topic

log = logging.getLogger(__name__)

# Larger events are refused (and the store parks them): the biggest real one, a return
# with its lines, is a few kilobytes.
MAX_EVENT_BYTES = 256 * 1024
# The events table's key; a UUID is 36.
MAX_ID_CHARS = 64
# A store's sequence numbers are 64-bit integers in its outbox and here.
MAX_SEQ = 2**63 - 1
# No conflict target: the key is (event_id, occurred_at) on PostgreSQL, where events are
# partitioned by month (sync.central.partitions), and event_id on SQLite. Either way a
# resend (same id, same time) changes nothing.
INSERT_EVENT = (
    "INSERT INTO events (event_id, store_id, source, seq, type, time, envelope, received_at,"
    " occurred_at, chain_prev, chain_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT DO NOTHING"
)

# Binary: the server takes the time and seq as they are instead of parsing their text
# (8.7 against 11.0 us of server CPU per row, 2.4 against 3.2 of ours: medians of 8
# alternating runs of the same 30,000 rows here).
COPY_EVENTS = (
    "COPY events (event_id, store_id, source, seq, type, time, envelope, received_at,"
    " occurred_at, chain_prev, chain_hash) FROM STDIN (FORMAT BINARY)"
)
COPY_TYPES = ("text", "text", "text", "int8", "text", "text", "text", "text", "timestamptz",
              "text", "text")  # fmt: skip


# A batch as its elements' raw texts, and one element as Python values.
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
_JSON = msgspec.json.Decoder()


@dataclass
class IngestResult:
    acks: dict[str, AckBuilder]
    inserted: int = 0
    duplicates: int = 0
    unreadable: int = 0
    rejected: int = 0
    # Per store, the newest event time (the store's clock, in UTC) in this commit: how far
    # behind the centre's view of that store is (metrics).
    newest: dict[str, datetime] = field(default_factory=dict)
    # Feed changes that follow from these events, committed with them: publish after.
    changes: list[StoreChange] = field(default_factory=list)
    # Devices whose history does not hold together (sync.central.integrity).
    alarms: list[Alarm] = field(default_factory=list)


# Event types whose first arrival does more than store the event (sync.central.conflicts):
# these are written one at a time, so the ingest knows which ones were new.
WATCHED_TYPES = frozenset({RETURNED, RESOLVED, REQUESTED, COLLECTED}) | LOYALTY_TYPES


class _Event(NamedTuple):
    """An event as its `events` row, in INSERT_EVENT's column order: built for every
    event, written as it is (a tuple, cheaper than a dataclass)."""

    event_id: str
    store_id: str
    source: str
    seq: int
    type: str
    time: str
    envelope: str
    received_at: str
    occurred_at: datetime  # `time`, in UTC: the partition key
    chain_prev: str | None  # the link it carries (None: an agent before the chain)
    chain_hash: str  # of its text as sent, for the link its successor carries


_EVENT_ID = itemgetter(0)  # an _Event's event_id, for sorting
# Builds an _Event from a tuple of its fields in C: the NamedTuple's own constructor is a
# Python function, a call per event the centre takes.
_new_event = partial(tuple.__new__, _Event)


class _Refused(ValueError):
    def __init__(
        self, event_id: str | None, reason: str, seq: int | None = None, source: str | None = None
    ) -> None:
        super().__init__(reason)
        self.event_id = event_id
        self.reason = reason
        self.seq = seq
        # Known once the event proved to come from a device of the sending store: then
        # its seq counts as arrived, so the refusal does not hold that device's later
        # events back from delivery forever.
        self.source = source


class _Refusal(NamedTuple):
    store_id: str
    event_id: str
    reason: str
    seq: int | None
    text: str  # the event as received, kept for an operator
    source: str | None


@dataclass
class _Read:
    received_at: str
    events: list[_Event] = field(default_factory=list)
    # Events that came one per message (agents before batches): acked by id, the rest
    # by sequence range.
    singles: set[str] = field(default_factory=set)
    refused: list[_Refusal] = field(default_factory=list)
    unreadable: int = 0


def ingest_batch(db: CentralDb, prefix: str, messages: list[tuple[str, bytes]]) -> IngestResult:
    """Write the events in `messages` (topic, payload) in one transaction. A payload is
    one event, or a batch of them (sync.protocol.batches)."""
    read = _Read(iso_now())
    for topic, payload in messages:
        store_id = store_id_from_topic(prefix, topic)
        if store_id is None:
            read.unreadable += 1
        elif is_batch(payload):
            _read_batch(store_id, payload, read)
        else:
            _read_single(store_id, payload, read)
    return _write(db, read)


def _write(db: CentralDb, read: _Read) -> IngestResult:
    result = IngestResult(acks=defaultdict(AckBuilder), unreadable=read.unreadable)
    now = read.received_at
    events = read.events
    plain = [e for e in events if e.type not in WATCHED_TYPES]
    watched = [e for e in events if e.type in WATCHED_TYPES]
    # Acks are built here but go out only if the transaction below commits.
    written, arrived = _tally(read, result)
    with db.transaction():
        if plain:
            # In event id order: two workers writing the same events (a store resending
            # to the other one) wait on each other's keys in one order, never in a cycle.
            result.inserted = _insert_events(db, sorted(plain, key=_EVENT_ID))
        fresh = [e for e in watched if db.execute(INSERT_EVENT, _insertable(db, e)).rowcount]
        result.inserted += len(fresh)
        result.duplicates = len(events) - result.inserted
        # Requests before hand-overs: an order placed in this batch can be collected in it.
        result.changes = (
            on_ingested(db, fresh) + on_orders_requested(db, fresh) + on_orders_collected(db, fresh)
        )
        loyalty = [e for e in fresh if e.type in LOYALTY_TYPES]
        if loyalty:
            result.changes += on_loyalty_events(db, loyalty, from_iso(now))
        if read.refused:
            db.executemany(
                "INSERT INTO rejected_events (event_id, store_id, reason, payload, received_at,"
                " source, seq) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (event_id) DO NOTHING",
                [
                    (r.event_id, r.store_id, r.reason, r.text, now, r.source, r.seq)
                    for r in read.refused
                ],
            )
        held_through = _advance_sequences(db, written, now)
        result.alarms = verify_chains(db, written, arrived, held_through)
    for r in read.refused:
        result.acks[r.store_id].refused(r.event_id, r.reason, r.seq)
    result.rejected = len(read.refused)
    return result


def _tally(
    read: _Read, result: IngestResult
) -> tuple[dict[tuple[str, str], set[int]], dict[str, dict[int, list[ChainLink]]]]:
    """One pass over the batch's events, for every event the centre takes: per store the
    newest event time and what to acknowledge (into `result`); per (source, store) the
    seqs written, refused ones with a known device included (every source seen, not only
    those with new rows: a repeat costs one query); per source and seq the batch's own
    chain links (each event is its own link: it has the fields)."""
    arrived: dict[str, dict[int, list[ChainLink]]] = {}
    store_of: dict[str, str] = {}
    newest = result.newest
    for event in read.events:
        event_id, store_id, source, seq, _, _, _, _, occurred_at, _, _ = event
        by_seq = arrived.get(source)
        if by_seq is None:
            by_seq = arrived[source] = {}
            store_of[source] = store_id
        links = by_seq.get(seq)
        if links is None:
            by_seq[seq] = [event]
        elif all(link.event_id != event_id for link in links):
            links.append(event)
        latest = newest.get(store_id)
        if latest is None or occurred_at > latest:
            newest[store_id] = occurred_at
    singles = read.singles
    for source, by_seq in arrived.items():
        acks = result.acks[store_of[source]]
        if not singles:
            acks.committed_seqs(source, by_seq)
            continue
        for seq, links in by_seq.items():
            for link in links:
                if link.event_id in singles:
                    acks.committed_single(link.event_id)
                else:
                    acks.committed_in_batch(source, seq)
    written: dict[tuple[str, str], set[int]] = defaultdict(set)
    for source, by_seq in arrived.items():
        written[source, store_of[source]].update(by_seq)
    for r in read.refused:
        if r.source is not None and r.seq is not None:
            written[(r.source, r.store_id)].add(r.seq)
    return written, arrived


def _insert_events(db: CentralDb, rows: list[_Event]) -> int:
    """Write `rows` to `events`, skipping any already there; returns how many were new.

    On PostgreSQL, COPY first: the usual batch holds no event the centre already has,
    and COPY writes it ~2x as fast as INSERT ... ON CONFLICT (45 vs 30 k rows/s on 9,000
    events here). A resend in the batch makes COPY fail on the key; then its savepoint
    is rolled back and the batch goes in row by row, skipping what is there. A resend
    racing another worker's uncommitted copy waits for it, then takes that path too."""
    if db.postgres:
        import psycopg

        try:
            with db.transaction(), db.copy(COPY_EVENTS) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
            return len(rows)
        except psycopg.errors.UniqueViolation:
            pass
    return db.executemany(INSERT_EVENT, [_insertable(db, row) for row in rows])


def _insertable(db: CentralDb, event: _Event) -> _Event:
    """The row as the database takes it: SQLite keeps the time as ISO 8601 text."""
    if db.postgres:
        return event
    return event._replace(occurred_at=event.occurred_at.isoformat(timespec="microseconds"))


def _read_single(store_id: str, payload: bytes, read: _Read) -> None:
    """One event per message, as agents before batches send it; acked by id."""
    try:
        if len(payload) > MAX_EVENT_BYTES:
            raise _Refused(_peek_id(payload), f"event too large ({len(payload)} bytes)")
        try:
            event = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            raise _Refused(None, "not JSON") from None
        text = payload.decode()
        checked = _check_event(store_id, event, text, event_hash(text), read.received_at)
        read.events.append(checked)
        read.singles.add(checked.event_id)
    except _Refused as exc:
        _refuse(store_id, exc, payload.decode("utf-8", "replace"), read)


def _read_batch(store_id: str, payload: bytes, read: _Read) -> None:
    """A batch: each element is checked on its own, so one bad event is refused (and
    parked by the store) while the others are written and acked."""
    received_at = read.received_at
    try:
        elements = _batch_elements(store_id, payload, received_at)
    except (ValueError, UnicodeDecodeError) as exc:
        # Nothing in it can be acked or parked by id; the store resends it and an
        # operator sees it in the log.
        log.warning("unreadable batch from store %s: %s", store_id, exc)
        read.unreadable += 1
        return
    for element in elements:
        if type(element) is _Event:
            read.events.append(element)
            continue
        event, text, digest = element
        try:
            if len(text) > MAX_EVENT_BYTES:
                raise _Refused(_id_of(event), f"event too large ({len(text)} bytes)")
            read.events.append(_check_event(store_id, event, text, digest, received_at))
        except _Refused as exc:
            _refuse(store_id, exc, text, read)


def _batch_elements(
    store_id: str, payload: bytes, received_at: str
) -> list[_Event | tuple[Any, str, str]]:
    """Each element of a batch: an _Event where the compiled check takes it (nearly
    always), else parsed, with its text as sent and that text's hash (event_hash), for
    _check_event to judge. msgspec splits and parses in C (1.3 us an event, against 2.8
    through the standard library's decoder); what it refuses (NaN, a number out of
    range, a lone surrogate: JSON the standard library reads) goes through split_batch,
    so every batch reads as it did before. The hash is of the element's bytes as
    received: the same bytes event_hash would encode the text back to (strict UTF-8
    both ways), without encoding it again."""
    devices = event_source(store_id, "")  # each of the store's device sources begins so
    try:
        return [
            _compiled_event(store_id, devices, raw, received_at)
            or (_JSON.decode(raw), str(raw, "utf-8"), _sha256(raw).hexdigest())
            for raw in _ELEMENTS.decode(payload)
        ]
    except (msgspec.DecodeError, UnicodeDecodeError):
        return [(event, text, event_hash(text)) for event, text in split_batch(payload.decode())]


class _Envelope(msgspec.Struct, gc=False):
    """The attributes _check_event reads, typed as they must be for it to take the
    event; the rest (extension attributes among them) are not looked at, as there.
    Not tracked by the collector (gc=False): it holds only values and lives for one
    check."""

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_CHARS)]
    specversion: Literal["1.0"]
    source: str
    sequence: int | str
    type: str
    time: str
    dataschema: str
    data: msgspec.Raw
    chainprev: str | None = msgspec.field(name=CHAIN_ATTRIBUTE, default=None)


_ENVELOPE = msgspec.json.Decoder(_Envelope)


def _compiled_event(
    store_id: str, devices: str, raw: msgspec.Raw, received_at: str
) -> _Event | None:
    """The event as _check_event would take it, checked while msgspec decodes it
    (sync.central.compiled_schemas; a batch of scans read in 4.2-4.4 us an event
    instead of 5.6-5.9); None for anything this does not take, which _check_event then
    judges and, if it refuses, says why. It takes only what _check_event takes
    (tests/sync/test_compiled_schemas.py)."""
    try:
        envelope = _ENVELOPE.decode(raw)
        schema = parse_schema_urn(envelope.dataschema)
        if schema is None or schema[0] != envelope.type:
            return None
        decoder = data_decoder(*schema)
        if decoder is None:
            return None
        decoder.decode(envelope.data)
        occurred_at = utc_time(envelope.time)
    except (msgspec.DecodeError, OverflowError):
        return None
    seq = _seq_of(envelope.sequence)
    source = envelope.source
    link = envelope.chainprev
    if (
        occurred_at is None
        or seq is None
        or not source.startswith(devices)
        or (link is not None and not is_link(link))
    ):
        return None
    text = str(raw, "utf-8")
    if len(text) > MAX_EVENT_BYTES:
        return None
    return _new_event((
        envelope.id, store_id, source, seq, envelope.type, envelope.time, text, received_at,
        occurred_at, link, _sha256(raw).hexdigest(),
    ))  # fmt: skip


def _refuse(store_id: str, exc: _Refused, text: str, read: _Read) -> None:
    if exc.event_id is None:
        # Without an id there is nothing to ack or park; the store resends it and an
        # operator sees it in the log.
        log.warning("unreadable event from store %s: %s", store_id, exc.reason)
        read.unreadable += 1
    else:
        read.refused.append(_Refusal(store_id, exc.event_id, exc.reason, exc.seq, text, exc.source))


def _check_event(store_id: str, event: Any, text: str, digest: str, received_at: str) -> _Event:
    # Written flat, in one function: it runs for every event the centre takes.
    if not isinstance(event, dict):
        raise _Refused(None, "not a JSON object")
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_CHARS:
        raise _Refused(None, "no usable event id")
    seq = _seq_of(event.get("sequence"))
    if event.get("specversion") != "1.0":
        raise _Refused(event_id, "not a CloudEvents 1.0 event", seq)
    source = event.get("source")
    # A store publishes only under its own topic (broker ACL); its events must also say
    # they come from that store, or one store could write into another's history.
    if not isinstance(source, str) or not source.startswith(event_source(store_id, "")):
        raise _Refused(event_id, f"source {source!r} is not a device of store {store_id}", seq)
    if seq is None:
        raise _Refused(event_id, "no store sequence (an integer from 1 to 2**63 - 1)")
    # From here on the event is a device's of this store: a refusal names its source.
    event_type, time = event.get("type"), event.get("time")
    if not isinstance(event_type, str) or not isinstance(time, str):
        raise _Refused(event_id, "type and time are required", seq, source)
    schema = parse_schema_urn(event.get("dataschema"))
    if schema is None or schema[0] != event_type:
        raise _Refused(
            event_id, f"dataschema {event.get('dataschema')!r} does not name {event_type}", seq,
            source,
        )  # fmt: skip
    try:
        validate_event_data(event_type, schema[1], event.get("data"))
    except EventDataInvalid as exc:
        raise _Refused(event_id, str(exc), seq, source) from None
    try:
        occurred_at = utc_time(time)
    except OverflowError:
        # A real offset on the first or last day of year 1 or 9999: not a time in UTC.
        raise _Refused(
            event_id, f"time {time[:40]!r} is out of range in UTC", seq, source
        ) from None
    if occurred_at is None:
        raise _Refused(
            event_id, f"time {time[:40]!r} is not an RFC 3339 time with an offset", seq, source
        )
    link = event.get(CHAIN_ATTRIBUTE)
    if link is not None and not is_link(link):
        raise _Refused(event_id, f"{CHAIN_ATTRIBUTE} is not a SHA-256 in hex", seq, source)
    return _new_event((
        event_id, store_id, source, seq, event_type, time, text, received_at, occurred_at, link,
        digest,
    ))  # fmt: skip


def _id_of(event: Any) -> str | None:
    value = event.get("id") if isinstance(event, dict) else None
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None


def _seq_of(value: Any) -> int | None:
    try:
        seq = int(value)
    except (TypeError, ValueError):
        return None
    # Both databases keep it as a 64-bit integer: a larger one failed its whole batch.
    return seq if 1 <= seq <= MAX_SEQ else None


def _peek_id(payload: bytes) -> str | None:
    try:
        value = json.loads(payload).get("id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS else None


_SOURCE_TYPES = ("text", "text", "bigint", "bigint", "text")  # a `sources` row's columns


def _advance_sequences(
    db: CentralDb, written: dict[tuple[str, str], set[int]], now: str
) -> dict[str, int]:
    """Move each device's contiguous mark over the seqs now in the table (`written`,
    per (source, store)) and over whatever had arrived beyond it before: three
    statements for the whole batch on PostgreSQL, whatever the number of devices in it
    (CentralDb.insert_rows).
    Returns each device's highest seq held before this batch."""
    if not written:
        return {}
    keys = sorted(written)
    sources = [source for source, _ in keys]
    # Several workers may write the same device's events at once: the row locks make
    # them take turns, and each then sees the others' committed events. Locked in one
    # order (code point order, as `keys`), so two workers never deadlock.
    db.insert_rows(
        "INSERT INTO sources (source, store_id, contiguous_seq, max_seq, updated_at)",
        _SOURCE_TYPES,
        [(source, store_id, 0, 0, now) for source, store_id in keys],
        " ON CONFLICT (source) DO NOTHING",
    )
    if db.postgres:
        rows = db.execute(
            "SELECT source, contiguous_seq, max_seq FROM sources"
            ' WHERE source = ANY(%s::text[]) ORDER BY source COLLATE "C" FOR UPDATE',
            [sources],
        ).fetchall()
    else:
        rows = [
            row
            for chunk, places in in_lists(sources)
            for row in db.execute(
                f"SELECT source, contiguous_seq, max_seq FROM sources WHERE source IN ({places})",
                chunk,
            ).fetchall()
        ]
    marks = {source: (int(contiguous), int(highest)) for source, contiguous, highest in rows}
    updates = []
    for source, store_id in keys:
        arrived = written[(source, store_id)]
        contiguous, highest = marks[source]
        beyond = highest > contiguous  # events came out of order before this batch
        # This batch usually continues the run: walk it in memory; the table is read
        # only when something lies beyond the mark from before.
        while contiguous + 1 in arrived:
            contiguous += 1
        if beyond:
            contiguous = _walk_stored(db, source, contiguous)
        updates.append((source, store_id, contiguous, max(highest, contiguous, *arrived), now))
    # An upsert of rows that all exist (inserted and locked above), not UPDATE ... FROM
    # unnest: that is a join the planner may make by hashing the whole `sources` table
    # (9-12 ms a commit at 50,000 devices); an upsert finds each row by its key.
    db.insert_rows(
        "INSERT INTO sources (source, store_id, contiguous_seq, max_seq, updated_at)",
        _SOURCE_TYPES,
        updates,
        " ON CONFLICT (source) DO UPDATE SET contiguous_seq = excluded.contiguous_seq,"
        " max_seq = excluded.max_seq, updated_at = excluded.updated_at",
    )
    return {source: highest for source, (_, highest) in marks.items()}


def _walk_stored(db: CentralDb, source: str, contiguous: int) -> int:
    """The contiguous mark moved over the seqs held beyond it (refused events count as
    arrived: the store parks them and sends on)."""
    for (seq,) in db.execute(
        "SELECT seq FROM events WHERE source = %s AND seq > %s UNION"
        " SELECT seq FROM rejected_events WHERE source = %s AND seq > %s"
        " ORDER BY seq LIMIT 100000",
        [source, contiguous, source, contiguous],
    ).fetchall():
        if seq != contiguous + 1:
            break
        contiguous = seq
    return contiguous
