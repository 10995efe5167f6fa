"""Fixtures for delivery: the centre's database (a real SQLite file), events written
through the centre's own ingest, subscribers that are real HTTP servers, and delivery
workers tuned to retry within a test's patience."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from sync.central.db import CentralDb
from sync.central.delivery.subscriptions import (
    add_subscription,
    make_subscription,
    new_secret,
)
from sync.central.delivery.worker import DeliverySettings, DeliveryWorker
from sync.central.ingest import ingest_batch
from sync.protocol.batches import stamp_sequence
from sync.protocol.clock import utc_now
from sync.protocol.envelope import build_event
from tests.delivery.receiver import Receiver
from tests.sync.conftest import (  # noqa: F401 - the broker and store sync fixtures
    broker,
    broker_factory,
    scan_data,
    sync_factory,
)

# Retries within tenths of a second, so a test that makes a subscriber fail waits little.
FAST = DeliverySettings(
    threads=2,
    timeout_seconds=5.0,
    retry_base_seconds=0.05,
    retry_max_seconds=0.4,
    lease_seconds=10.0,
    poll_seconds=0.05,
)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    db = CentralDb(url)
    db.create_schema()
    db.close()
    return url


@pytest.fixture
def secret() -> str:
    return new_secret()


@pytest.fixture
def receiver_factory(secret: str) -> Iterator[Callable[..., Receiver]]:
    receivers: list[Receiver] = []

    def make(verify_with: str | None = None, port: int = 0, start: bool = True) -> Receiver:
        receiver = Receiver(verify_with or secret, port)
        receivers.append(receiver)
        return receiver.start() if start else receiver

    yield make
    for receiver in receivers:
        receiver.stop()


@pytest.fixture
def receiver(receiver_factory: Callable[..., Receiver]) -> Receiver:
    return receiver_factory()


@pytest.fixture
def worker_factory(db_url: str) -> Iterator[Callable[..., DeliveryWorker]]:
    workers: list[DeliveryWorker] = []

    def make(worker_id: str = "w1", settings: DeliverySettings = FAST) -> DeliveryWorker:
        worker = DeliveryWorker(db_url, worker_id, settings)
        worker.start()
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.stop()


def subscribe(
    db_url: str,
    url: str,
    secrets: list[str],
    types: tuple[str, ...] = ("scan.recorded", "order.returned"),
    batch_max: int = 1,
    sub_id: str = "cdp",
    from_beginning: bool = True,
) -> None:
    db = CentralDb(db_url)
    try:
        add_subscription(
            db, make_subscription(sub_id, url, types, (), secrets, batch_max), from_beginning
        )
    finally:
        db.close()


def store_events(
    store_id: str,
    device_id: str,
    seqs: list[int],
    event_type: str = "scan.recorded",
    at: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """(topic, payload) messages as a store's publisher sends them: one batch per call,
    the `scan.recorded` value naming the sequence."""
    texts = []
    for seq in seqs:
        event = build_event(
            event_type=event_type, store_id=store_id, device_id=device_id, subject=None,
            data=scan_data(seq), at=at or utc_now(),
        )  # fmt: skip
        texts.append(stamp_sequence(json.dumps(event), seq))
    return [(f"retail/v1/stores/{store_id}/events", ("[" + ",".join(texts) + "]").encode())]


def ingest(db_url: str, messages: list[tuple[str, bytes]]) -> None:
    db = CentralDb(db_url)
    try:
        result = ingest_batch(db, "retail/v1", messages)
        refused = [r for acks in result.acks.values() for r in acks.rejected]
        assert not refused, refused
    finally:
        db.close()


def source(store_id: str, device_id: str) -> str:
    return f"/stores/{store_id}/devices/{device_id}"
