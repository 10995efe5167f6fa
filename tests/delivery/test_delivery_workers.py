"""Several delivery workers, a worker killed mid-work, a subscriber down for a while."""

from __future__ import annotations

import subprocess
import time
from collections import Counter

from sync.central.db import CentralDb
from sync.central.delivery.subscriptions import new_secret
from tests.delivery.conftest import ingest, source, store_events, subscribe
from tests.sync.conftest import EDGE_CENTRAL, free_port, kill9, wait_for

DEVICES = [("store-a", "till-1"), ("store-a", "till-2"), ("store-b", "till-1")]


def in_order_once(receiver, devices, count: int) -> bool:
    return all(receiver.sequences(source(*d)) == list(range(1, count + 1)) for d in devices)


def test_two_workers_deliver_each_event_once_in_order(db_url, secret, receiver, worker_factory):
    subscribe(db_url, receiver.url, [secret])
    worker_factory("w1")
    worker_factory("w2")
    for first in range(1, 301, 50):
        for store_id, device_id in DEVICES:
            ingest(db_url, store_events(store_id, device_id, list(range(first, first + 50))))
    wait_for(lambda: len(receiver.ids()) >= 900, "900 deliveries")
    time.sleep(0.3)  # a second sending of anything would land by now
    assert max(Counter(receiver.ids()).values()) == 1
    assert in_order_once(receiver, DEVICES, 300)
    assert receiver.refused_signatures == 0


def test_a_subscriber_down_during_1000_events_gets_all_in_order_when_back(
    db_url, secret, receiver_factory, worker_factory
):
    port = free_port()
    down = receiver_factory(port=port, start=False)
    subscribe(db_url, down.url, [secret])
    worker_factory()
    for first in range(1, 1001, 100):
        ingest(db_url, store_events("store-a", "till-1", list(range(first, first + 100))))
    wait_for(lambda: failures(db_url) >= 3, "tries against the missing subscriber")
    down.start()
    wait_for(lambda: len(down.ids()) >= 1000, "1000 events after the subscriber came back")
    assert down.sequences(source("store-a", "till-1")) == list(range(1, 1001))
    assert len(set(down.ids())) == 1000


def test_a_delivery_worker_killed_mid_work_loses_nothing(db_url, secret, receiver, tmp_path):
    def slowly(events):
        time.sleep(0.004)  # so the kill lands while requests are in flight
        return 200

    receiver.answer = slowly
    subscribe(db_url, receiver.url, [secret])
    for store_id, device_id in DEVICES[:2]:
        ingest(db_url, store_events(store_id, device_id, list(range(1, 401))))
    command = [EDGE_CENTRAL, "deliver", "--db", db_url, "--worker-id", "wk", "--threads", "2"]
    log = (tmp_path / "deliver.log").open("w")
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_for(lambda: len(receiver.ids()) >= 150, "deliveries under way")
        kill9(first)
        at_kill = len(receiver.ids())
        assert at_kill < 800, "the worker finished before it could be killed"
        # The same worker id takes its leases back at once (another id would wait for
        # them to run out).
        second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for(lambda: len(set(receiver.ids())) >= 800, "the rest after the restart")
        finally:
            second.terminate()
            second.wait(timeout=20)
    finally:
        if first.poll() is None:
            kill9(first)
    for device in DEVICES[:2]:
        sent = receiver.sequences(source(*device))
        # In order; a repeat only of what was in flight at the kill (one per thread).
        assert list(dict.fromkeys(sent)) == list(range(1, 401))
        assert len(sent) - 400 <= 2
        assert sent == sorted(sent)


def test_secrets_rotate_by_signing_with_each(db_url, receiver_factory, worker_factory):
    old, new = new_secret(), new_secret()
    with_old, with_new = receiver_factory(verify_with=old), receiver_factory(verify_with=new)
    stranger = receiver_factory(verify_with=new_secret())
    subscribe(db_url, with_old.url, [new, old], sub_id="old")
    subscribe(db_url, with_new.url, [new, old], sub_id="new")
    subscribe(db_url, stranger.url, [new, old], sub_id="stranger")
    worker_factory()
    ingest(db_url, store_events("store-a", "till-1", [1, 2, 3]))
    wait_for(lambda: len(with_old.ids()) == 3 and len(with_new.ids()) == 3, "both receivers")
    wait_for(lambda: stranger.refused_signatures >= 2, "the stranger refusing, retried")
    assert stranger.ids() == []
    assert all(len(h["webhook-signature"].split(" ")) == 2 for h in with_new.requests)


def test_a_subscriber_that_opts_into_batches_gets_one_devices_events_per_request(
    db_url, secret, receiver, worker_factory
):
    subscribe(db_url, receiver.url, [secret], batch_max=50)
    worker_factory()
    ingest(db_url, store_events("store-a", "till-1", list(range(1, 121))))
    wait_for(lambda: len(receiver.ids()) >= 120, "120 events")
    assert receiver.sequences(source("store-a", "till-1")) == list(range(1, 121))
    assert all(t.startswith("application/cloudevents-batch+json") for t in receiver.content_types)
    assert 3 <= len(receiver.requests) < 120


def failures(db_url: str) -> int:
    db = CentralDb(db_url)
    try:
        row = db.execute("SELECT COALESCE(SUM(failure_count), 0) FROM delivery_cursors")
        return int(row.fetchone()[0])
    finally:
        db.close()
