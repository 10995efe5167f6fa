"""Delivery on PostgreSQL: workers share the work through row leases and wake on
NOTIFY from another process's ingest."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace

from sync.central.db import CentralDb
from sync.central.delivery.worker import DeliveryWorker, notify_committed
from sync.central.ingest import ingest_batch
from tests.delivery.conftest import FAST, source, store_events, subscribe
from tests.sync.conftest import wait_for

DEVICES = [("store-a", "till-1"), ("store-a", "till-2"), ("store-b", "till-1")]


def prepared(url: str) -> str:
    db = CentralDb(url)
    db.create_schema()
    db.close()
    return url


def test_two_workers_on_postgres_deliver_each_event_once_while_three_devices_ingest(
    postgres_url, secret, receiver
):
    url = prepared(postgres_url)
    subscribe(url, receiver.url, [secret])
    workers = [DeliveryWorker(url, f"w{n}", FAST) for n in (1, 2)]
    for worker in workers:
        worker.start()
    try:
        start = threading.Barrier(len(DEVICES))

        def ingest_device(store_id: str, device_id: str) -> None:
            db = CentralDb(url)
            start.wait()
            try:
                for first in range(1, 201, 20):
                    seqs = list(range(first, first + 20))
                    ingest_batch(db, "retail/v1", store_events(store_id, device_id, seqs))
                    notify_committed(db, None)
            finally:
                db.close()

        threads = [threading.Thread(target=ingest_device, args=d) for d in DEVICES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_for(lambda: len(receiver.ids()) >= 600, "600 deliveries")
        time.sleep(0.3)
    finally:
        for worker in workers:
            worker.stop()
    assert max(Counter(receiver.ids()).values()) == 1
    for device in DEVICES:
        assert receiver.sequences(source(*device)) == list(range(1, 201))


def test_a_worker_that_would_poll_rarely_wakes_on_another_process_notify(
    postgres_url, secret, receiver
):
    url = prepared(postgres_url)
    subscribe(url, receiver.url, [secret])
    worker = DeliveryWorker(url, "w1", replace(FAST, poll_seconds=120.0))
    worker.start()
    try:
        time.sleep(0.5)  # idle, waiting on its next poll, two minutes away
        db = CentralDb(url)
        try:
            ingest_batch(db, "retail/v1", store_events("store-a", "till-1", [1, 2, 3]))
            notify_committed(db, None)
        finally:
            db.close()
        wait_for(lambda: len(receiver.ids()) == 3, "the events, woken by NOTIFY", timeout=20)
    finally:
        worker.stop()
