"""The centre's acknowledgement message, written by the centre and read by the store.

`{"ranges": [{"source", "from", "to"}], "ids": [...], "rejected": [{"id", "reason",
"seq"?}], "at": "<commit time>"}`, sent on the store's acks topic only after the centre
committed:

- `ranges`: the events of batches, by device (event source) and runs of sequence
  numbers. Several devices of one store share the acks topic and each numbers its own
  events, so a range says whose sequence numbers it covers.
- `ids`: events that came one per message (agents from before batches), by id.
- `rejected`: events the centre refused, with the reason; the store parks them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sync.protocol.batches import seq_runs
from sync.protocol.clock import from_iso, iso_now

# A reason is for a person reading the parked event; longer text is cut.
MAX_REASON_CHARS = 500


@dataclass(frozen=True)
class Rejection:
    event_id: str
    reason: str
    seq: int | None = None


@dataclass(frozen=True)
class AckMessage:
    ids: tuple[str, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    ranges: tuple[tuple[str, int, int], ...] = ()  # (source, first seq, last seq)
    at: datetime | None = None  # the centre's commit time, when readable


def merge_acks(acks: list[AckMessage]) -> AckMessage:
    """Several ack messages as one, so the store marks them in one transaction."""
    return AckMessage(
        tuple(i for a in acks for i in a.ids),
        tuple(r for a in acks for r in a.rejected),
        tuple(r for a in acks for r in a.ranges),
        max((a.at for a in acks if a.at is not None), default=None),
    )


def parse_ack(payload: bytes) -> AckMessage:
    """Read an ack message; raises ValueError if it is malformed."""
    body = json.loads(payload)
    if not isinstance(body, dict):
        raise ValueError("an ack must be a JSON object")
    ids = body.get("ids", [])
    rejected = body.get("rejected", [])
    ranges = body.get("ranges", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("ack 'ids' must be a list of event ids")
    if not isinstance(rejected, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in rejected
    ):
        raise ValueError("ack 'rejected' must be a list of {id, reason}")
    if not isinstance(ranges, list) or not all(_is_range(r) for r in ranges):
        raise ValueError("ack 'ranges' must be a list of {source, from, to}")
    return AckMessage(
        tuple(ids),
        tuple(
            Rejection(
                r["id"],
                str(r.get("reason", "refused"))[:MAX_REASON_CHARS],
                r["seq"] if _is_seq(r.get("seq")) else None,
            )
            for r in rejected
        ),
        tuple((r["source"], r["from"], r["to"]) for r in ranges),
        _commit_time(body.get("at")),
    )


def _commit_time(value: object) -> datetime | None:
    """`at` is for measuring the store's clock; an unreadable one costs only that."""
    try:
        return from_iso(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass
class AckBuilder:
    """What the centre acknowledges to one store after one commit."""

    ids: list[str] = field(default_factory=list)
    seqs: dict[str, list[int]] = field(default_factory=dict)  # source -> seqs committed
    rejected: list[dict[str, object]] = field(default_factory=list)

    def committed_single(self, event_id: str) -> None:
        self.ids.append(event_id)

    def committed_in_batch(self, source: str, seq: int) -> None:
        self.seqs.setdefault(source, []).append(seq)

    def committed_seqs(self, source: str, seqs: Iterable[int]) -> None:
        """Every seq in `seqs`, at once (the centre's ingest: a batch per device)."""
        self.seqs.setdefault(source, []).extend(seqs)

    def refused(self, event_id: str, reason: str, seq: int | None) -> None:
        entry: dict[str, object] = {"id": event_id, "reason": reason}
        if seq is not None:
            entry["seq"] = seq
        self.rejected.append(entry)

    def payload(self) -> bytes:
        ranges = [
            {"source": source, "from": first, "to": last}
            for source, seqs in self.seqs.items()
            for first, last in seq_runs(seqs)
        ]
        # `at`: sent after the commit, so stores can measure their clocks against ours.
        body: dict[str, object] = {"ids": self.ids, "rejected": self.rejected, "at": iso_now()}
        if ranges:
            body["ranges"] = ranges
        return json.dumps(body).encode()


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_range(value: object) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("source"), str)
        and _is_seq(value.get("from"))
        and _is_seq(value.get("to"))
        and value["from"] <= value["to"]
    )
