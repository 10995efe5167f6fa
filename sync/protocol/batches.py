"""Event batches on the wire: several CloudEvents in one MQTT message.

A batch is the CloudEvents JSON batch format (`application/cloudevents-batch+json`): a
JSON array of structured events. The MQTT binding of CloudEvents knows only one event per
message (structured or binary mode); batches are our extension of it, said so in the
README, and each batch message carries its own Content Type, `BATCH_CONTENT_TYPE`. One
message per event made the broker round trip, not the data, the limit on how fast a
backlog drained; a batch carries up to `MAX_BATCH_EVENTS` events and `MAX_BATCH_BYTES`
bytes.

The store writes each event's JSON once, when it commits it, `sequence` first (rows
from agents before the hash chain lack it: the publisher splices it in front), and the
centre keeps each element's text as sent, so no event is decoded and encoded again on
the way, and its hash (sync.protocol.chain) holds end to end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sync.protocol.envelope import sequence_text

BATCH_CONTENT_TYPE = "application/cloudevents-batch+json"
# Well under what brokers commonly allow per message (AWS IoT Core takes 128 KiB) and
# big enough that the per-message cost is spread over a couple of hundred events.
MAX_BATCH_BYTES = 64 * 1024
# Bounds what one refused batch puts back to be sent again one by one.
MAX_BATCH_EVENTS = 500

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Batch:
    seqs: tuple[int, ...]
    payload: bytes


def stamp_sequence(envelope: str, seq: int) -> str:
    """The stored envelope with the outbox `sequence` attribute added."""
    # Agents since the hash chain store the event as it goes on the wire, its sequence
    # first: sent byte for byte, so the hash its successor carries stays true.
    if envelope.startswith(f'{{"sequence": "{sequence_text(seq)}", '):
        return envelope
    # Fast path: splice the attribute in as text. The stored envelope is our own
    # json.dumps of a non-empty object without a sequence; anything else is re-encoded.
    if envelope.startswith('{"') and '"sequence"' not in envelope:
        return f'{{"sequence": "{sequence_text(seq)}", {envelope[1:]}'
    event = json.loads(envelope)
    event["sequence"] = sequence_text(seq)
    return json.dumps(event, ensure_ascii=False)


def build_batches(rows: Iterable[tuple[int, str]], alone: set[int] | None = None) -> list[Batch]:
    """Group (seq, envelope) rows, in order, into batches within the size bounds; a seq
    in `alone` goes in a batch of its own (it was in a batch the broker refused)."""
    batches: list[Batch] = []
    seqs: list[int] = []
    parts: list[str] = []
    size = 2  # the brackets

    def close() -> None:
        nonlocal size
        if seqs:
            batches.append(Batch(tuple(seqs), ("[" + ",".join(parts) + "]").encode()))
            seqs.clear()
            parts.clear()
            size = 2

    for seq, envelope in rows:
        text = stamp_sequence(envelope, seq)
        length = len(text) if text.isascii() else len(text.encode())
        if alone and seq in alone:
            close()
            seqs.append(seq)
            parts.append(text)
            close()
            continue
        if seqs and (size + length + 1 > MAX_BATCH_BYTES or len(seqs) >= MAX_BATCH_EVENTS):
            close()
        seqs.append(seq)
        parts.append(text)
        size += length + 1
    close()
    return batches


def is_batch(payload: bytes) -> bool:
    """Whether a message holds a batch (a JSON array) rather than one event."""
    return payload.lstrip()[:1] == b"["


def split_batch(text: str) -> Iterator[tuple[Any, str]]:
    """Each element of a JSON array with its own text as sent; ValueError if the text
    is not an array."""
    index = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
    if text[index : index + 1] != "[":
        raise ValueError("a batch must be a JSON array")
    index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]
    if text[index : index + 1] == "]":
        _expect_end(text, index + 1)
        return
    while True:
        value, end = _DECODER.raw_decode(text, index)
        yield value, text[index:end]
        index = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]
        separator = text[index : index + 1]
        if separator == "]":
            _expect_end(text, index + 1)
            return
        if separator != ",":
            raise ValueError(f"expected ',' or ']' at character {index}")
        index = _WHITESPACE.match(text, index + 1).end()  # type: ignore[union-attr]


def seq_runs(seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged runs of consecutive sequence numbers: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    runs: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs


def _expect_end(text: str, index: int) -> None:
    if text[index:].strip():
        raise ValueError("text after the end of the batch")
