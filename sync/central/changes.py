"""The centre's side of each store's change feed: numbered, stored, replayable.

A change is written with the next sequence for its store before it is published, so
a store that missed it (offline, broker queue overflow) gets it again on a replay.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from sync.central.db import CentralDb, in_lists
from sync.protocol.changes import CHANGE_TYPES, FEED_HEAD_TYPE, SCHEMAS, first_error
from sync.protocol.clock import iso_now
from sync.protocol.envelope import sequence_text
from sync.protocol.errors import ChangeRejected

CENTRAL_SOURCE = "/central"
# One replay answers at most this many changes; the store asks again from where it is.
REPLAY_BATCH_MAX = 1000


def record_change(db: CentralDb, store_id: str, change_type: str, data: dict[str, Any]) -> bytes:
    """Validate, number and store one change for `store_id`; returns the message to send."""
    with db.transaction():
        return append_change(db, store_id, change_type, data)


def append_change(
    db: CentralDb,
    store_id: str,
    change_type: str,
    data: dict[str, Any] | str,
    seq: int | None = None,
    vouched: bool = False,
) -> bytes:
    """As `record_change`, inside the caller's transaction (SQLite cannot nest BEGIN): a
    change that follows from an ingested event commits with that event. `seq`: the
    caller numbering many changes of one store in a row already knows the next one.
    `data` may come as its JSON text (a bulk writer's, checked as JSON); `vouched`: a
    bulk writer that checked every value more strictly than the schema does, and had
    the first of its changes checked here, skips the check for the rest."""
    if isinstance(data, str):
        if not vouched:
            validate_change_json(change_type, data)
    else:
        validate_change(change_type, data)
    seq = seq or feed_head(db, store_id) + 1
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": CENTRAL_SOURCE,
        "type": change_type,
        "time": iso_now(),
        "datacontenttype": "application/json",
        "dataschema": f"urn:edge-central:schema:{change_type}:{CHANGE_TYPES[change_type]}",
        "subject": store_id,
        "sequence": sequence_text(seq),
        # The newest sequence in this store's feed when sent: a store behind it knows
        # it missed something even when the lost change was the last one.
        "feedhead": sequence_text(seq),
        "data": data,
    }
    if isinstance(data, str):
        del event["data"]
        payload = json.dumps(event, ensure_ascii=False)[:-1] + ', "data": ' + data + "}"
    else:
        payload = json.dumps(event, ensure_ascii=False)
    db.execute(
        "INSERT INTO changes (store_id, seq, change_id, type, payload, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        [store_id, seq, event["id"], change_type, payload, event["time"]],
    )
    return payload.encode()


def validate_change(change_type: str, data: dict[str, Any]) -> None:
    """Refuse at the source what every store would refuse (raises ChangeRejected)."""
    schema = SCHEMAS.get(change_type)
    if schema is None:
        raise ChangeRejected(f"unknown change type {change_type!r}; known: {sorted(SCHEMAS)}")
    try:
        schema.model_validate(data)
    except ValidationError as exc:
        raise ChangeRejected(f"{change_type} data is wrong: {first_error(exc)}") from None


def validate_change_json(change_type: str, data: str) -> None:
    """As `validate_change`, for data given as JSON text."""
    schema = SCHEMAS.get(change_type)
    if schema is None:
        raise ChangeRejected(f"unknown change type {change_type!r}; known: {sorted(SCHEMAS)}")
    try:
        schema.model_validate_json(data)
    except ValidationError as exc:
        raise ChangeRejected(f"{change_type} data is wrong: {first_error(exc)}") from None


def feed_head(db: CentralDb, store_id: str) -> int:
    """The newest sequence in `store_id`'s feed (0 when it has none)."""
    row = db.execute(
        "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE store_id = %s", [store_id]
    ).fetchone()
    return int(row[0])


def feed_heads(db: CentralDb, store_ids: Sequence[str]) -> dict[str, int]:
    """`feed_head` of many stores, a few queries for all (0 for a store without a feed)."""
    heads = dict.fromkeys(store_ids, 0)
    for chunk, marks in in_lists(list(heads)):
        for store_id, head in db.execute(
            f"SELECT store_id, MAX(seq) FROM changes WHERE store_id IN ({marks}) GROUP BY store_id",
            chunk,
        ).fetchall():
            heads[store_id] = int(head)
    return heads


def answer_replays(
    db: CentralDb, requests: Sequence[tuple[str, int, int]]
) -> list[tuple[str, list[bytes]]]:
    """Answers to replay requests (store, from sequence, limit), in their order: the
    stored changes from there on, or where the feed stands when there are none. A
    fleet-wide reconnect asks once per store, and most are up to date: one query
    tells them all."""
    heads = feed_heads(db, [store_id for store_id, _, _ in requests])
    answers = []
    for store_id, from_seq, limit in requests:
        head = heads[store_id]
        replay = changes_from(db, store_id, from_seq, limit, head) if from_seq <= head else []
        answers.append((store_id, replay or [feed_head_message(db, store_id, head)]))
    return answers


def feed_head_message(db: CentralDb, store_id: str, head: int | None = None) -> bytes:
    """The answer to a replay with nothing to replay: how far the store's feed goes."""
    marker = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": CENTRAL_SOURCE,
        "type": FEED_HEAD_TYPE,
        "time": iso_now(),
        "subject": store_id,
        "feedhead": sequence_text(feed_head(db, store_id) if head is None else head),
    }
    return json.dumps(marker).encode()


def changes_from(
    db: CentralDb, store_id: str, from_seq: int, limit: int, head: int | None = None
) -> list[bytes]:
    """Up to `limit` stored changes for `store_id` from `from_seq` on, in order, each
    stamped with the feed's current head (`head`, when the caller just read it)."""
    if head is None:
        head = feed_head(db, store_id)
    rows = db.execute(
        "SELECT payload FROM changes WHERE store_id = %s AND seq >= %s ORDER BY seq LIMIT %s",
        [store_id, from_seq, max(1, min(limit, REPLAY_BATCH_MAX))],
    ).fetchall()
    replayed = []
    for (payload,) in rows:
        event = json.loads(payload)
        # Changes stored before sequences were padded go out padded too.
        event["sequence"] = sequence_text(int(event["sequence"]))
        event["feedhead"] = sequence_text(head)
        replayed.append(json.dumps(event, ensure_ascii=False).encode())
    return replayed
