"""The centre reads a store's batch through msgspec, and through the standard library's
decoder what msgspec refuses: either way each element comes out as the standard library
reads it, with its text exactly as sent, and an unreadable batch stays unreadable."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from bench.fleet_stores import make_store
from sync.central.ingest import _batch_elements, ingest_batch
from sync.protocol.batches import split_batch
from sync.protocol.chain import event_hash

READABLE = [
    b'[{"id": "a", "n": 1}, {"id": "b", "s": "x\\u00e9\\n", "f": 0.1, "e": 1E2}]',
    b' \n[ {"a": [1, {"b": null}]} ,\t[true, false] , "text" , -0 ]\r\n',
    '[{"name": "Zoë ☕"}]'.encode(),
    '[{"name": "\U0001f9fe receipt"}, {"note": "line\u2028break"}]'.encode(),
    b"[]",
    b"[123456789012345678901234567890]",
    b'[{"a": 1, "a": 2}]',
    # The standard library reads these and msgspec does not: the fallback must.
    b'[{"id": "nan", "v": NaN}, {"id": "ok"}]',
    b'[{"id": "inf", "v": 1.5e400}]',
    b'[{"id": "surrogate", "v": "\\ud800"}]',
]

UNREADABLE = [
    (b'{"id": "not an array"}', ValueError),
    (b'[{"id": "a"}] trailing', ValueError),
    (b'[{"id": "a"},]', ValueError),
    (b'[{"id": "a"}', ValueError),
    (b'[{"id": "\xff\xfe"}]', UnicodeDecodeError),
]


@pytest.mark.parametrize("payload", READABLE)
def test_each_element_reads_as_the_standard_library_reads_it_with_its_text_as_sent(payload):
    expected = list(split_batch(payload.decode()))
    got = _batch_elements("s1", payload, "2026-11-24T08:00:00.000000Z")
    # None of these is an event: each comes out parsed, for _check_event to judge.
    assert all(len(element) == 3 for element in got)
    assert [text for _, text, _ in got] == [text for _, text in expected]
    # json.dumps: NaN is not equal to itself, its text is.
    assert json.dumps([value for value, _, _ in got]) == json.dumps([v for v, _ in expected])
    assert [type(value) for value, _, _ in got] == [type(value) for value, _ in expected]
    # Hashed from the bytes received, as the chain hashes the text: the same digest.
    assert [digest for _, _, digest in got] == [event_hash(text) for _, text in expected]


@pytest.mark.parametrize(("payload", "error"), UNREADABLE)
def test_an_unreadable_batch_stays_unreadable(payload, error):
    with pytest.raises(error):
        list(split_batch(payload.decode()))
    with pytest.raises(error):
        _batch_elements("s1", payload, "2026-11-24T08:00:00.000000Z")


def test_a_batch_the_fast_reader_refuses_still_stores_its_good_events(centre):
    """One event with NaN in its data: msgspec refuses the whole batch; through the
    fallback the others are stored and that one is refused by its schema, as before."""
    (batch,) = make_store("s1", 3).batches  # as the agent sends them: sequences stamped
    texts = [text for _, text in split_batch(batch.payload.decode())]
    broken = texts[1].replace('"value": "', '"value": NaN, "was": "', 1)
    payload = ("[" + ", ".join([texts[0], broken, texts[2]]) + "]").encode()

    result = ingest_batch(centre, "retail/v1", [("retail/v1/stores/s1/events", payload)])

    assert result.inserted == 2
    assert result.rejected == 1
    stored = {row[0] for row in centre.execute("SELECT envelope FROM events").fetchall()}
    assert stored == {texts[0], texts[2]}
    (reason,) = centre.execute("SELECT reason FROM rejected_events").fetchone()
    assert "scan.recorded" in reason


def test_one_commit_acks_batched_events_by_range_single_ones_by_id_and_refusals(centre):
    """Per store, what one commit acknowledges: a batch's events (one of them twice) as
    runs of sequences, an event sent alone (an agent before batches) by its id, even
    from the same device, and a refused one with its reason; the newest event time."""
    (batch,) = make_store("s1", 6).batches
    texts = [text for _, text in split_batch(batch.payload.decode())]
    alone = texts[5]  # seq 6, sent one per message
    broken = texts[2].replace('"kind": "gtin"', '"kind": 7', 1)  # seq 3: refused
    payload = "[" + ", ".join([texts[0], texts[1], broken, texts[3], texts[4], texts[0]]) + "]"
    other = make_store("s2", 2).batches[0].payload
    topic = "retail/v1/stores/{}/events".format

    result = ingest_batch(
        centre,
        "retail/v1",
        [(topic("s1"), payload.encode()), (topic("s1"), alone.encode()), (topic("s2"), other)],
    )

    assert (result.inserted, result.duplicates, result.rejected) == (7, 1, 1)
    s1 = json.loads(result.acks["s1"].payload())
    source = "/stores/s1/devices/sim-1"
    assert s1["ranges"] == [
        {"source": source, "from": 1, "to": 2},
        {"source": source, "from": 4, "to": 5},
    ]
    assert s1["ids"] == [json.loads(alone)["id"]]
    assert [(r["id"], r["seq"]) for r in s1["rejected"]] == [(json.loads(texts[2])["id"], 3)]
    s2 = json.loads(result.acks["s2"].payload())
    assert s2["ranges"] == [{"source": "/stores/s2/devices/sim-1", "from": 1, "to": 2}]
    assert (s2["ids"], s2["rejected"]) == ([], [])
    assert result.newest["s1"] == datetime.fromisoformat(json.loads(alone)["time"])
    # Seqs 1-6 arrived (3 refused, 6 alone): the device's mark moved over all of them.
    (mark,) = centre.execute(
        "SELECT contiguous_seq FROM sources WHERE source = %s", [source]
    ).fetchone()
    assert mark == 6


@pytest.mark.parametrize("sequence", ["9223372036854775808", "99999999999999999999", "0"])
def test_a_sequence_outside_64_bits_is_refused_and_the_rest_stored(centre, sequence):
    """A sequence number no database column holds failed the whole batch (and so every
    resend of it); now that event is refused with its reason and the others stored."""
    (batch,) = make_store("s1", 3).batches
    texts = [text for _, text in split_batch(batch.payload.decode())]
    bad = texts[1].replace('"sequence": "00000000000000000002"', f'"sequence": "{sequence}"')
    assert bad != texts[1]
    payload = ("[" + ", ".join([texts[0], bad, texts[2]]) + "]").encode()

    result = ingest_batch(centre, "retail/v1", [("retail/v1/stores/s1/events", payload)])

    assert (result.inserted, result.rejected) == (2, 1)
    (reason,) = centre.execute("SELECT reason FROM rejected_events").fetchone()
    assert reason == "no store sequence (an integer from 1 to 2**63 - 1)"
