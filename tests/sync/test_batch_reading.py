"""The centre reads a store's batch through msgspec, and through the standard library's
decoder what msgspec refuses: either way each element comes out as the standard library
reads it, with its text exactly as sent, and an unreadable batch stays unreadable."""

from __future__ import annotations

import json

import pytest

from bench.fleet_stores import make_store
from sync.central.ingest import _batch_elements, ingest_batch
from sync.protocol.batches import split_batch

READABLE = [
    b'[{"id": "a", "n": 1}, {"id": "b", "s": "x\\u00e9\\n", "f": 0.1, "e": 1E2}]',
    b' \n[ {"a": [1, {"b": null}]} ,\t[true, false] , "text" , -0 ]\r\n',
    '[{"name": "Zoë ☕"}]'.encode(),
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
    got = _batch_elements(payload)
    assert [text for _, text in got] == [text for _, text in expected]
    # json.dumps: NaN is not equal to itself, its text is.
    assert json.dumps([value for value, _ in got]) == json.dumps([v for v, _ in expected])
    assert [type(value) for value, _ in got] == [type(value) for value, _ in expected]


@pytest.mark.parametrize(("payload", "error"), UNREADABLE)
def test_an_unreadable_batch_stays_unreadable(payload, error):
    with pytest.raises(error):
        list(split_batch(payload.decode()))
    with pytest.raises(error):
        _batch_elements(payload)


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
