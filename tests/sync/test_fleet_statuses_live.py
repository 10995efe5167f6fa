"""Device statuses through the workers' MQTT subscriptions (real Mosquitto, PostgreSQL):
each live status reaches one worker, and a worker beginning a broker session fetches
every retained status once, with no moment in which a live one is missed."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

import sync.central.service as service
import sync.link
from sync.central.db import CentralDb
from sync.central.fleet import DeviceStatus
from sync.central.integrity import Alarm
from sync.central.service import RECEIVE_MAXIMUM
from sync.link import BrokerSettings, MqttLink
from sync.protocol.clock import to_iso
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import wait_for
from tests.sync.postgres import rows

PREFIX = "retail/v1"
# Long enough for a second copy of a status, were there one, to be written too.
SETTLE_SECONDS = 1.0
# The tills' clock: status n of a device is n milliseconds after this.
CLOCK = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


class Devices:
    """Tills publishing their statuses as the agent does (retained, QoS 1, through the
    store's link), `n` in each body numbering a device's statuses."""

    def __init__(self, broker_url: str, client_id: str = "devices") -> None:
        self._acked = 0
        self._lock = threading.Lock()
        self.sent = 0
        self.link = MqttLink(
            BrokerSettings(url=broker_url, client_id=client_id, persistent_session=False),
            [],
            on_message=lambda message: None,
            on_published=self._published,
        )
        self.link.start()
        wait_for(self.link.connected.is_set, f"{client_id} connected")

    def publish(self, store_id: str, n: int, device_id: str = "till-1") -> None:
        body = {"state": "online", "store_id": store_id, "device_id": device_id, "n": n,
                "at": to_iso(CLOCK + timedelta(milliseconds=n))}  # fmt: skip
        topic = StoreTopics(PREFIX, store_id).status(device_id)
        self.link.publish(topic, json.dumps(body).encode(), qos=1, retain=True)
        self.sent += 1

    def wait_acked(self) -> None:
        wait_for(lambda: self.acked == self.sent, f"the broker's PUBACK for {self.sent} statuses")

    @property
    def acked(self) -> int:
        with self._lock:
            return self._acked

    def stop(self) -> None:
        self.link.stop()

    def _published(self, mid: int, refusal: str | None) -> None:
        assert refusal is None, refusal
        with self._lock:
            self._acked += 1


@pytest.fixture
def devices(broker):
    publisher = Devices(broker.url)
    yield publisher
    publisher.stop()


def newest_in_fleet(db_url: str) -> dict[str, int]:
    """Store -> the `n` of the status its till-1 row holds."""
    return {
        store_id: json.loads(detail)["n"]
        for store_id, detail in rows(db_url, "SELECT store_id, detail FROM fleet")
    }


def statuses(*workers: service.CentralService) -> int:
    return sum(worker.counters.statuses for worker in workers)


def fetched(worker: service.CentralService) -> bool:
    fetch = worker.link.retained_fetch
    return fetch is not None and fetch.done


def test_two_workers_record_each_live_status_once(broker, postgres_url, central_factory, devices):
    workers = [central_factory(broker.url, postgres_url, worker_id=f"w{n}") for n in (1, 2)]
    wait_for(lambda: all(fetched(worker) for worker in workers), "both workers' fetch over")
    stores = [f"s{n:03d}" for n in range(200)]
    for store_id in stores:
        devices.publish(store_id, 1)
    devices.wait_acked()

    wait_for(lambda: len(newest_in_fleet(postgres_url)) == len(stores), "every status recorded")
    wait_for(lambda: statuses(*workers) >= len(stores), "the workers' counts")
    time.sleep(SETTLE_SECONDS)
    assert statuses(*workers) == len(stores)  # not 2 x: one worker each
    assert all(worker.counters.statuses > 0 for worker in workers)  # dealt to both
    assert sum(worker.counters.statuses_retained for worker in workers) == 0
    assert newest_in_fleet(postgres_url) == dict.fromkeys(stores, 1)


def test_a_worker_starting_after_more_retained_statuses_than_its_window_records_them_all(
    broker, postgres_url, central_factory, devices
):
    stores = [f"s{n:03d}" for n in range(RECEIVE_MAXIMUM + 144)]
    for store_id in stores:
        devices.publish(store_id, 1)
    devices.wait_acked()

    worker = central_factory(broker.url, postgres_url)
    wait_for(lambda: worker.counters.statuses_retained == len(stores), "the retained statuses")
    wait_for(lambda: fetched(worker), "the fetch's subscription ended")
    assert newest_in_fleet(postgres_url) == dict.fromkeys(stores, 1)
    # A status after the start arrives once, live.
    devices.publish(stores[0], 2)
    wait_for(lambda: newest_in_fleet(postgres_url)[stores[0]] == 2, "the new status recorded")
    time.sleep(SETTLE_SECONDS)
    assert worker.counters.statuses == len(stores) + 1
    assert worker.counters.statuses_retained == len(stores)


def test_no_status_is_missed_while_a_worker_starts_during_a_stream_of_them(
    broker, postgres_url, central_factory, devices, monkeypatch
):
    received: dict[str, list[int]] = defaultdict(list)
    record = service.record_statuses

    def noting(db: CentralDb, batch: list[DeviceStatus]) -> list[Alarm]:
        for status in batch:
            received[status.store_id].append(status.body["n"])
        return record(db, batch)

    monkeypatch.setattr(service, "record_statuses", noting)
    stores = [f"s{n:02d}" for n in range(20)]
    stop = threading.Event()
    rounds = 0

    def publish_continuously() -> None:
        nonlocal rounds
        while not stop.is_set():
            rounds += 1
            for store_id in stores:
                devices.publish(store_id, rounds)
            time.sleep(0.002)

    publisher = threading.Thread(target=publish_continuously)
    publisher.start()
    try:
        wait_for(lambda: rounds >= 20, "statuses flowing before the worker starts")
        worker = central_factory(broker.url, postgres_url)
        wait_for(lambda: fetched(worker), "the fetch's subscription ended")
        started_at = rounds
        wait_for(lambda: rounds >= started_at + 50, "statuses flowing after the fetch")
    finally:
        stop.set()
        publisher.join()
    devices.wait_acked()

    final = dict.fromkeys(stores, rounds)
    wait_for(lambda: newest_in_fleet(postgres_url) == final, "every till's newest status")
    # From the first status the worker received on, it received every one: the one
    # retained when it subscribed, then each live one, none lost between the two.
    for store_id in stores:
        seen = set(received[store_id])
        assert seen == set(range(min(seen), rounds + 1)), store_id
    assert worker.counters.statuses_retained == len(stores)  # one retained each


def test_a_worker_that_comes_back_without_its_session_fetches_the_retained_statuses_again(
    broker, postgres_url, central_factory, devices, monkeypatch
):
    # Long enough for what happens while it is away to happen.
    monkeypatch.setattr(sync.link, "RECONNECT_MIN_SECONDS", (6, 6))
    devices.publish("s000", 1)
    devices.wait_acked()
    worker = central_factory(broker.url, postgres_url)
    wait_for(lambda: worker.counters.statuses_retained == 1, "the retained status")
    wait_for(lambda: fetched(worker), "the fetch's subscription ended")

    # A client with the worker's id and a clean start takes its connection and ends
    # its session; while it is away, another till's status is retained.
    impostor = Devices(broker.url, client_id=worker.link.settings.client_id)
    wait_for(lambda: not worker.link.connected.is_set(), "the worker cut off")
    devices.publish("s001", 1)
    devices.wait_acked()
    impostor.stop()  # its session ends with it (no expiry)

    wait_for(worker.link.connected.is_set, "the worker back", timeout=30)
    wait_for(lambda: newest_in_fleet(postgres_url) == {"s000": 1, "s001": 1}, "both statuses")
    wait_for(lambda: fetched(worker), "the second fetch over")
    time.sleep(SETTLE_SECONDS)
    # The whole retained set again: a new session has no trace of what it missed.
    assert worker.counters.statuses_retained == 3
    assert worker.counters.statuses == 3
