"""Event batches and acks as they travel: what the store writes the centre reads back."""

from __future__ import annotations

import json

import pytest

from sync.protocol.acks import AckBuilder, AckMessage, parse_ack
from sync.protocol.batches import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    build_batches,
    is_batch,
    seq_runs,
    split_batch,
    stamp_sequence,
)
from sync.protocol.envelope import sequence_text


def envelope(n: int, data: str = "x") -> str:
    return json.dumps({"specversion": "1.0", "id": f"e{n}", "data": {"n": n, "text": data}})


def test_a_stamped_envelope_is_the_event_plus_its_sequence():
    text = stamp_sequence(envelope(1, "ñandú"), 42)
    assert json.loads(text) == {**json.loads(envelope(1, "ñandú")), "sequence": sequence_text(42)}
    # An envelope that already says a sequence, or is not ours, is re-encoded, not spliced.
    restamped = stamp_sequence('{"sequence": "1", "id": "a"}', 7)
    assert json.loads(restamped)["sequence"] == "0" * 19 + "7"
    assert json.loads(stamp_sequence("{}", 7)) == {"sequence": sequence_text(7)}


def test_sequence_text_orders_as_the_numbers_do():
    numbers = [1, 2, 9, 10, 11, 99, 100, 65_535, 10**12, 2**63 - 1, 2**64 - 1]
    texts = [sequence_text(n) for n in numbers]
    assert sorted(texts) == texts
    assert [int(t) for t in texts] == numbers


def test_batches_keep_order_and_stay_within_their_bounds():
    rows = [(n, envelope(n, "y" * 300)) for n in range(1, 2001)]
    batches = build_batches(rows)
    assert [s for b in batches for s in b.seqs] == list(range(1, 2001))
    assert all(len(b.payload) <= MAX_BATCH_BYTES for b in batches)
    assert all(len(b.seqs) <= MAX_BATCH_EVENTS for b in batches)
    events = [json.loads(b.payload) for b in batches]
    assert [e["data"]["n"] for batch in events for e in batch] == list(range(1, 2001))
    assert all(int(e["sequence"]) == e["data"]["n"] for batch in events for e in batch)


def test_an_event_larger_than_a_batch_travels_alone_and_refused_ones_go_one_by_one():
    rows = [(1, envelope(1)), (2, envelope(2, "z" * MAX_BATCH_BYTES)), (3, envelope(3))]
    assert [b.seqs for b in build_batches(rows)] == [(1,), (2,), (3,)]
    rows = [(n, envelope(n)) for n in range(1, 7)]
    assert [b.seqs for b in build_batches(rows, alone={3, 4})] == [(1, 2), (3,), (4,), (5, 6)]


def test_the_centre_reads_each_element_as_sent():
    batch = build_batches([(n, envelope(n, "ü")) for n in (5, 6)])[0]
    assert is_batch(batch.payload) and not is_batch(envelope(1).encode())
    elements = list(split_batch(batch.payload.decode()))
    assert [value["sequence"] for value, _ in elements] == [sequence_text(5), sequence_text(6)]
    assert [text for _, text in elements] == [stamp_sequence(envelope(n, "ü"), n) for n in (5, 6)]
    assert list(split_batch(" [ ] ")) == []
    assert [v for v, _ in split_batch('[1, {"a": [2, 3]} ,"x"]')] == [1, {"a": [2, 3]}, "x"]
    for bad in ('{"a": 1}', "[1, 2", "[1 2]", "[1] x"):
        with pytest.raises(ValueError):
            list(split_batch(bad))


def test_acks_carry_runs_of_sequences_per_device_ids_and_refusals():
    builder = AckBuilder()
    for seq in (3, 1, 2, 7):
        builder.committed_in_batch("/stores/s/devices/a", seq)
    builder.committed_in_batch("/stores/s/devices/b", 1)
    builder.committed_single("old-agent-event")
    builder.refused("bad", "not a device of store s", 4)
    ack = parse_ack(builder.payload())
    assert ack.ranges == (
        ("/stores/s/devices/a", 1, 3),
        ("/stores/s/devices/a", 7, 7),
        ("/stores/s/devices/b", 1, 1),
    )
    assert ack.ids == ("old-agent-event",)
    assert [(r.event_id, r.seq) for r in ack.rejected] == [("bad", 4)]
    assert ack.at is not None  # the commit time, for the store's clock check
    # An unreadable commit time costs only the clock check, never the ack.
    assert parse_ack(b'{"ids": ["a"], "at": "yesterday"}') == AckMessage(ids=("a",))
    # The form from centres before batches is still read.
    assert parse_ack(b'{"ids": ["a"], "rejected": [{"id": "b", "reason": "r"}]}').ids == ("a",)
    assert seq_runs([5, 4, 4, 9]) == [(4, 5), (9, 9)]


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'{"ids": "a"}',
        b'{"ranges": [{"source": "s", "from": 3, "to": 2}]}',
        b'{"ranges": [{"source": "s", "from": 0, "to": 2}]}',
        b'{"ranges": [{"from": 1, "to": 2}]}',
        b'{"rejected": [{"reason": "no id"}]}',
    ],
)
def test_a_malformed_ack_is_refused(payload: bytes):
    with pytest.raises(ValueError):
        parse_ack(payload)
