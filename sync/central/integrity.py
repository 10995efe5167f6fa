"""Each device's hash chain (sync.protocol.chain), verified as its events arrive.

Every event is stored with the hash of its text as sent (`chain_hash`) and the link it
carries (`chain_prev`). Whenever an event lands next to one already held, the pair is
checked, whichever came first, so an event that arrives late is judged when it comes.
A broken pair raises an alarm once: a row in `integrity_alarms`, a `device.integrity_alarm`
event the centre delivers like any other (its own source, `/central/integrity`), the
fleet page and `/metrics`. Devices whose agents predate the chain send events without
a link: accepted, and the device shows as unchained.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from sync.central.db import CentralDb
from sync.protocol.batches import seq_runs
from sync.protocol.chain import GENESIS
from sync.protocol.clock import iso_now
from sync.protocol.envelope import event_source

log = logging.getLogger(__name__)

# The centre's own event, delivered like a store event, when a device's history does
# not hold together.
ALARM_TYPE = "device.integrity_alarm"
ALARM_SOURCE = "/central/integrity"
# An event whose successor's link does not match it: altered, replaced or reordered.
BROKEN = "chain_broken"
# A device's chain started again (GENESIS) after chained events: its history was reset.
RESTARTED = "chain_restarted"
# An event without a link after chained ones: the chain was stripped (or an old agent
# was put back).
DROPPED = "chain_dropped"
# Two different events with one sequence number.
REUSED = "sequence_reused"
# The device says everything through seq N was acknowledged, the centre lacks some.
REMOVED = "events_removed"
KINDS = (BROKEN, RESTARTED, DROPPED, REUSED, REMOVED)
_ALARM_IDS = uuid.UUID("5b0d1d0e-6c1b-4d84-9a57-0c2f3e1f5a11")


class ChainLink(Protocol):
    """An event as its device's chain sees it (the ingest passes its own rows)."""

    @property
    def event_id(self) -> str: ...
    @property
    def chain_prev(self) -> str | None: ...
    @property
    def chain_hash(self) -> str: ...


class Link(NamedTuple):
    """A stored event as its device's chain sees it."""

    event_id: str
    chain_prev: str | None
    chain_hash: str


@dataclass(frozen=True)
class Alarm:
    source: str
    store_id: str
    seq: int
    kind: str
    detail: str


# Seq ranges read in one query when checking the links around what a batch wrote (SQLite).
RANGES_PER_QUERY = 200


def verify_chains(
    db: CentralDb,
    written: dict[tuple[str, str], set[int]],
    arrived: dict[str, dict[int, list[ChainLink]]] | None = None,
    held_through: dict[str, int] | None = None,
) -> list[Alarm]:
    """Check the links around the seqs just written, per (source, store) in one ingest
    transaction; record and return the new alarms. `arrived`: the batch's own events
    per source and seq; `held_through`: each source's highest seq held before the batch.
    With both, a device whose batch lies wholly beyond what was held (the usual case) is
    checked from memory and one stored event, its predecessor."""
    held = _links_around(db, written, arrived or {}, held_through or {})
    alarms: list[Alarm] = []
    marks = []
    now = iso_now()
    for (source, store_id), seqs in sorted(written.items()):
        links = held[source]
        found = [
            Alarm(
                source, store_id, seq, REUSED, f"{len(links[seq])} different events have seq {seq}"
            )
            for seq in sorted(seqs)
            if len(links[seq]) > 1
        ]
        pairs = sorted({k for s in seqs for k in (s, s + 1)})
        for seq in pairs:
            here, before = links.get(seq), links.get(seq - 1)
            if here and before and here[0].chain_prev == before[0].chain_hash:
                continue  # the usual pair, linked as it should be: nothing to judge
            fault = _link_fault(seq, before, here)
            if fault is not None:
                found.append(Alarm(source, store_id, seq, *fault))
        newest = links.get(max(seqs))
        if newest:
            marks.append((source, store_id, int(newest[0].chain_prev is not None), 0, now))
        alarms += [a for a in found if raise_alarm(db, a)]
    db.insert_rows(
        "INSERT INTO device_chains (source, store_id, chained, alarms, updated_at)",
        ("text", "text", "integer", "integer", "text"),
        marks,
        " ON CONFLICT (source) DO UPDATE SET"
        " chained = excluded.chained, updated_at = excluded.updated_at",
    )
    return alarms


def _links_around(
    db: CentralDb,
    written: dict[tuple[str, str], set[int]],
    arrived: dict[str, dict[int, list[ChainLink]]],
    held_through: dict[str, int],
) -> dict[str, dict[int, list[ChainLink]]]:
    """Per source and seq, the events held there, first arrived first: the seqs written
    and one on each side of every run of them (a few queries for the whole batch)."""
    held: dict[str, dict[int, list[ChainLink]]] = defaultdict(lambda: defaultdict(list))
    ranges: list[tuple[str, int, int]] = []
    for (source, _), seqs in sorted(written.items()):
        first = min(seqs)
        if source in arrived and first > held_through.get(source, first):
            # Nothing was held at or after these seqs before this batch: they hold only
            # its own events, and the one stored neighbour is the predecessor.
            # The batch's own lists, not copies: the query below adds only seqs
            # before `first`, which the batch does not hold.
            held[source].update(arrived[source])
            if first > 1:
                ranges.append((source, first - 1, first - 1))
        else:
            ranges += [(source, max(a - 1, 1), b + 1) for a, b in seq_runs(seqs)]
    for source, seq, event_id, prev, digest in _stored_links(db, ranges):
        links = held[source][int(seq)]
        if all(link.event_id != event_id for link in links):
            links.append(Link(event_id, prev, digest))
    return held


def _stored_links(db: CentralDb, ranges: list[tuple[str, int, int]]) -> list[Any]:
    """(source, seq, event_id, chain_prev, chain_hash) of the stored events in `ranges`
    (source, first seq, last seq), per source and seq first arrived first."""
    if not ranges:
        return []
    if db.postgres:
        # One statement whatever the number of ranges: a chain of ORs costs the server
        # a plan per 200 ranges, and a commit of many devices has one range each. Each
        # range is its own index scan (LATERAL ... OFFSET 0): as a plain join, on a
        # table not yet analysed, the planner hashed all of `events` (0.28 s a commit
        # at 2 M events, against 9 ms).
        sources, firsts, lasts = zip(*ranges, strict=True)
        return db.execute(
            "SELECT e.source, e.seq, e.event_id, e.chain_prev, e.chain_hash"
            " FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) AS r(source, first, last)"
            " CROSS JOIN LATERAL (SELECT source, seq, event_id, chain_prev, chain_hash,"
            " received_at FROM events WHERE events.source = r.source"
            " AND events.seq BETWEEN r.first AND r.last OFFSET 0) AS e"
            " ORDER BY e.source, e.seq, e.received_at",
            [list(sources), list(firsts), list(lasts)],
        ).fetchall()
    rows = []
    for start in range(0, len(ranges), RANGES_PER_QUERY):
        chunk = ranges[start : start + RANGES_PER_QUERY]
        where = " OR ".join("(source = %s AND seq BETWEEN %s AND %s)" for _ in chunk)
        rows += db.execute(
            "SELECT source, seq, event_id, chain_prev, chain_hash FROM events"
            f" WHERE {where} ORDER BY source, seq, received_at",
            [value for r in chunk for value in r],
        ).fetchall()
    return rows


def check_reported_head(
    db: CentralDb, store_id: str, device_id: str, backlog: Any, last_seq: Any
) -> Alarm | None:
    """A device's heartbeat says nothing waits in its outbox (`backlog` 0) and its
    newest seq is `last_seq`: every seq up to it was acknowledged, i.e. committed here.
    One the centre lacks was removed on the device before it was sent."""
    if backlog != 0 or not isinstance(last_seq, int) or last_seq < 1:
        return None
    source = event_source(store_id, device_id)
    with db.transaction():
        # The device's row first, as the ingest takes it: one lock order, no deadlock.
        lock = " FOR UPDATE" if db.postgres else ""
        row = db.execute(
            f"SELECT contiguous_seq FROM sources WHERE source = %s{lock}", [source]
        ).fetchone()
        contiguous = int(row[0]) if row else 0
        if contiguous >= last_seq:
            return None
        later = db.execute(
            "SELECT MIN(seq) FROM events WHERE source = %s AND seq > %s", [source, contiguous]
        ).fetchone()[0]
        through = min(last_seq, int(later) - 1) if later is not None else last_seq
        alarm = Alarm(
            source,
            store_id,
            contiguous + 1,
            REMOVED,
            f"the device reports every event through seq {last_seq} acknowledged, but the"
            f" centre never received seq {contiguous + 1}"
            + (f" to {through}" if through > contiguous + 1 else ""),
        )
        return alarm if raise_alarm(db, alarm) else None


def raise_alarm(db: CentralDb, alarm: Alarm) -> bool:
    """Record `alarm` once, with its event for subscribers; False if it was known."""
    alarm_id = str(uuid.uuid5(_ALARM_IDS, f"{alarm.source}|{alarm.seq}|{alarm.kind}"))
    now = iso_now()
    if not db.execute(
        "INSERT INTO integrity_alarms (alarm_id, source, store_id, seq, kind, detail,"
        " detected_at) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (alarm_id) DO NOTHING",
        [alarm_id, alarm.source, alarm.store_id, alarm.seq, alarm.kind, alarm.detail, now],
    ).rowcount:
        return False
    log.warning("integrity alarm %s: %s seq %s: %s", alarm.kind, alarm.source, alarm.seq,
                alarm.detail)  # fmt: skip
    db.execute(
        "INSERT INTO sources (source, store_id, contiguous_seq, max_seq, updated_at)"
        " VALUES (%s, '', 0, 0, %s) ON CONFLICT (source) DO NOTHING",
        [ALARM_SOURCE, now],
    )
    lock = " FOR UPDATE" if db.postgres else ""
    (last,) = db.execute(
        f"SELECT max_seq FROM sources WHERE source = %s{lock}", [ALARM_SOURCE]
    ).fetchone()
    seq = int(last) + 1
    envelope = json.dumps(
        {
            "sequence": str(seq),
            "specversion": "1.0",
            "id": alarm_id,
            "source": ALARM_SOURCE,
            "type": ALARM_TYPE,
            "time": now,
            "subject": alarm.source,
            "datacontenttype": "application/json",
            "data": {
                "store_id": alarm.store_id,
                "device_source": alarm.source,
                "seq": alarm.seq,
                "kind": alarm.kind,
                "detail": alarm.detail,
            },
        }
    )
    db.execute(
        "INSERT INTO events (event_id, store_id, source, seq, type, time, envelope,"
        " received_at, occurred_at, chain_prev, chain_hash) VALUES (%s, %s, %s, %s, %s, %s,"
        " %s, %s, %s, NULL, NULL)",
        [alarm_id, alarm.store_id, ALARM_SOURCE, seq, ALARM_TYPE, now, envelope, now,
         datetime.now(UTC).isoformat(timespec="microseconds")],
    )  # fmt: skip
    db.execute(
        "UPDATE sources SET contiguous_seq = %s, max_seq = %s, updated_at = %s WHERE source = %s",
        [seq, seq, now, ALARM_SOURCE],
    )
    db.execute(
        "INSERT INTO device_chains (source, store_id, chained, alarms, last_alarm, updated_at)"
        " VALUES (%s, %s, 1, 1, %s, %s) ON CONFLICT (source) DO UPDATE SET"
        " alarms = device_chains.alarms + 1, last_alarm = excluded.last_alarm",
        [alarm.source, alarm.store_id, alarm.kind, now],
    )
    return True


def integrity_by_device(db: CentralDb) -> dict[str, dict[str, Any]]:
    """Per device source: chained or not, alarms raised, the latest kind."""
    return {
        source: {"chained": bool(chained), "alarms": int(alarms), "last_alarm": last}
        for source, chained, alarms, last in db.execute(
            "SELECT source, chained, alarms, last_alarm FROM device_chains"
        ).fetchall()
    }


def alarm_counts(db: CentralDb) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for kind, count in db.execute(
        "SELECT kind, COUNT(*) FROM integrity_alarms GROUP BY kind"
    ).fetchall():
        counts[kind] = int(count)
    return counts


def list_alarms(db: CentralDb, limit: int = 1000) -> list[dict[str, Any]]:
    keys = ("alarm_id", "source", "store_id", "seq", "kind", "detail", "detected_at")
    rows = db.execute(
        f"SELECT {', '.join(keys)} FROM integrity_alarms ORDER BY detected_at DESC LIMIT %s",
        [limit],
    ).fetchall()
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _link_fault(seq: int, before: Iterable[ChainLink] | None, here: list[ChainLink] | None):
    """(kind, detail) if the event at `seq` does not follow from the one before it."""
    if not here:
        return None
    event = here[0]
    previous = next(iter(before), None) if before else None
    if event.chain_prev is None:
        if previous is not None and previous.chain_prev is not None:
            return DROPPED, f"seq {seq} carries no chain link, seq {seq - 1} did"
        return None
    if event.chain_prev == GENESIS:
        if previous is not None and previous.chain_prev is not None:
            return RESTARTED, f"seq {seq} starts a new chain after chained seq {seq - 1}"
        return None
    if previous is None:
        if seq == 1:
            return BROKEN, "seq 1 links to an event before it; there is none"
        return None  # judged when seq - 1 arrives
    if previous.chain_hash != event.chain_prev:
        return BROKEN, (
            f"seq {seq - 1} does not hash to the link seq {seq} carries: one of them was"
            " altered, replaced or moved on the device"
        )
    return None
