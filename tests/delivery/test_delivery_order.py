"""Delivery in store-sequence order per device, at least once, to real receivers."""

from __future__ import annotations

import time
from dataclasses import replace

from sync.central.db import CentralDb
from sync.central.delivery.subscriptions import dead_letters
from sync.central.ingest import ingest_batch
from tests.delivery.conftest import FAST, ingest, source, store_events, subscribe
from tests.sync.conftest import wait_for

A1 = source("store-a", "till-1")
A2 = source("store-a", "till-2")


def test_a_gap_holds_only_that_devices_later_events_until_it_is_filled(
    db_url, secret, receiver, worker_factory
):
    subscribe(db_url, receiver.url, [secret])
    worker_factory()
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 4, 5]))
    ingest(db_url, store_events("store-a", "till-2", [1, 2, 3]))
    wait_for(lambda: receiver.sequences(A2) == [1, 2, 3], "till-2's events")
    wait_for(lambda: receiver.sequences(A1) == [1, 2], "till-1's events before the gap")
    # Nothing past the gap, however long we look.
    assert not wait_for_nothing(lambda: len(receiver.sequences(A1)) > 2)
    ingest(db_url, store_events("store-a", "till-1", [3]))
    wait_for(lambda: receiver.sequences(A1) == [1, 2, 3, 4, 5], "till-1 in order after the fill")
    assert receiver.refused_signatures == 0


def test_a_receiver_answering_500_then_200_gets_each_event_at_most_twice_in_order(
    db_url, secret, receiver, worker_factory
):
    answered: dict[str, int] = {}

    def flaky(events):
        event_id = events[0]["id"]
        answered[event_id] = answered.get(event_id, 0) + 1
        return 500 if answered[event_id] == 1 else 200

    receiver.answer = flaky
    subscribe(db_url, receiver.url, [secret])
    worker_factory()
    ingest(db_url, store_events("store-a", "till-1", list(range(1, 21))))
    wait_for(lambda: receiver.sequences(A1) == list(range(1, 21)), "all 20 in order")
    assert all(count == 2 for count in answered.values())
    assert len(answered) == 20
    assert len(receiver.requests) == 40


def test_a_410_dead_letters_the_event_with_the_answer_and_the_device_moves_on(
    db_url, secret, receiver, worker_factory
):
    def gone_for_three(events):
        return 410 if int(events[0]["sequence"]) == 3 else 200

    receiver.answer = gone_for_three
    subscribe(db_url, receiver.url, [secret])
    worker_factory()
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 3, 4, 5]))
    wait_for(lambda: receiver.sequences(A1) == [1, 2, 4, 5], "the others delivered")
    db = CentralDb(db_url)
    try:
        letters = dead_letters(db, "cdp")
    finally:
        db.close()
    assert [(d["seq"], d["status"]) for d in letters] == [(3, 410)]
    assert "answered 410" in letters[0]["response"]
    # Refused for good: asked once, never again.
    sequences = [int(h["webhook-id"] != "") for h in receiver.requests]
    assert len(sequences) == 5


def wait_for_nothing(check, seconds: float = 1.0) -> bool:
    """Whether `check` turns true within `seconds` (for things that must not happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_an_event_the_centre_refuses_does_not_hold_its_devices_later_events(
    db_url, secret, receiver, worker_factory
):
    subscribe(db_url, receiver.url, [secret])
    worker_factory()
    good = store_events("store-a", "till-1", [1, 2, 4])
    bad = store_events("store-a", "till-1", [3])
    topic, payload = bad[0]
    # Data that breaks its schema: refused, and the store parks it.
    bad = [(topic, payload.replace(b'"outcome": "product"', b'"outcome": 7'))]
    db = CentralDb(db_url)
    try:
        result = ingest_batch(db, "retail/v1", good + bad)
        assert [r["seq"] for r in result.acks["store-a"].rejected] == [3]
        (contiguous,) = db.execute(
            "SELECT contiguous_seq FROM sources WHERE source = %s", [A1]
        ).fetchone()
    finally:
        db.close()
    assert contiguous == 4
    wait_for(lambda: receiver.sequences(A1) == [1, 2, 4], "1, 2 and 4 delivered")


def test_a_store_filter_applies_to_store_events_and_to_integrity_alarms(
    db_url, secret, receiver, worker_factory
):
    subscribe(db_url, receiver.url, [secret], types=("*",))
    db = CentralDb(db_url)
    try:
        db.execute("UPDATE subscriptions SET stores = %s", ['["store-b"]'])
    finally:
        db.close()
    # Everything is at the centre before delivery starts: both events with seq 2 are
    # beyond the cursor, so both go out (the late case is the next test).
    for store_id in ("store-a", "store-b"):
        ingest(db_url, store_events(store_id, "till-1", [1, 2]))
        ingest(db_url, store_events(store_id, "till-1", [2]))  # a reused seq: an alarm
    worker_factory()
    b1 = source("store-b", "till-1")
    wait_for(lambda: len(receiver.ids()) == 4, "store-b's three events and its alarm")
    assert wait_for_nothing(lambda: len(receiver.ids()) > 4) is False
    alarms = [r for r in receiver.accepted if r.type == "device.integrity_alarm"]
    assert [a.event.data["device_source"] for a in alarms] == [b1]
    assert sorted(receiver.sequences(b1)) == [1, 2, 2]
    assert receiver.sequences(A1) == []


def test_an_event_reusing_a_delivered_seq_reaches_subscribers_as_its_alarm(
    db_url, secret, receiver, worker_factory
):
    """Delivery is in sequence order: an event arriving with a seq already delivered
    cannot be put back before what followed it. Subscribers hear of it through the
    alarm, which names the device and the seq; the event stays at the centre."""
    subscribe(db_url, receiver.url, [secret], types=("*",))
    worker_factory()
    ingest(db_url, store_events("store-a", "till-1", [1, 2]))
    wait_for(lambda: receiver.sequences(A1) == [1, 2], "1 and 2 delivered")
    ingest(db_url, store_events("store-a", "till-1", [2]))
    wait_for(
        lambda: [r for r in receiver.accepted if r.type == "device.integrity_alarm"],
        "the alarm for the reused seq",
    )
    (alarm,) = [r for r in receiver.accepted if r.type == "device.integrity_alarm"]
    assert (alarm.event.data["device_source"], alarm.event.data["seq"]) == (A1, 2)
    assert alarm.event.data["kind"] == "sequence_reused"
    assert wait_for_nothing(lambda: len(receiver.sequences(A1)) > 2) is False
    db = CentralDb(db_url)
    try:
        (held,) = db.execute(
            "SELECT COUNT(*) FROM events WHERE source = %s AND seq = 2", [A1]
        ).fetchone()
    finally:
        db.close()
    assert held == 2


def test_a_batch_refused_for_good_is_sent_again_one_by_one_to_find_the_culprit(
    db_url, secret, receiver, worker_factory
):
    def refuse_five(events):
        return 413 if any(int(e["sequence"]) == 5 for e in events) else 200

    receiver.answer = refuse_five
    subscribe(db_url, receiver.url, [secret], batch_max=10)
    ingest(db_url, store_events("store-a", "till-1", list(range(1, 21))))
    worker_factory()
    wait_for(lambda: len(receiver.ids()) == 19, "all but the culprit")
    assert receiver.sequences(A1) == [n for n in range(1, 21) if n != 5]
    db = CentralDb(db_url)
    try:
        assert [(d["seq"], d["status"]) for d in dead_letters(db, "cdp")] == [(5, 413)]
    finally:
        db.close()


def test_a_receiver_too_slow_to_answer_is_tried_again_and_order_holds(
    db_url, secret, receiver, worker_factory
):
    slow_once: set[str] = set()

    def slow_first_time(events):
        event_id = events[0]["id"]
        if event_id not in slow_once:
            slow_once.add(event_id)
            time.sleep(1.5)  # past the deliverer's 0.5 s timeout
            return 503  # (a late 200 would be a receiver acting on a request given up)
        return 200

    receiver.answer = slow_first_time
    subscribe(db_url, receiver.url, [secret])
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 3]))
    worker_factory(settings=replace(FAST, timeout_seconds=0.5))
    wait_for(lambda: receiver.sequences(A1) == [1, 2, 3], "all three, in order")
    assert len(slow_once) == 3 and len(receiver.requests) >= 6
