"""Device statuses written a batch at a time: the newest per device wins, a last will
keeps the health last seen, and a heartbeat that vouches for events the centre has
raises nothing."""

from __future__ import annotations

import pytest

from sync.central.db import CentralDb
from sync.central.fleet import DeviceStatus, fleet_status, read_status, record_statuses
from sync.central.ingest import ingest_batch
from tests.at_once import run_at_once
from tests.delivery.conftest import store_events
from tests.sync.postgres import postgres_url  # noqa: F401 - the fixture


@pytest.fixture
def db(centre):
    return centre


def status(store: str, device: str, **body) -> DeviceStatus:
    return DeviceStatus(store, device, {"device_id": device, **body})


def by_device(db: CentralDb) -> dict[tuple[str, str], dict]:
    return {(d["store_id"], d["device_id"]): d for d in fleet_status(db)}


def test_the_newest_status_of_each_device_in_a_batch_is_kept(db):
    record_statuses(
        db,
        [
            status("s1", "till-1", state="online", backlog=40, devices={"printer": "ok"}),
            status("s2", "kiosk-1", state="online", backlog=0),
            status("s1", "till-1", state="online", backlog=7, devices={"printer": "no paper"}),
        ],
    )
    fleet = by_device(db)
    assert set(fleet) == {("s1", "till-1"), ("s2", "kiosk-1")}
    assert fleet[("s1", "till-1")]["backlog"] == 7
    assert fleet[("s1", "till-1")]["device_problems"] == ["printer"]


def test_a_last_will_keeps_the_health_last_seen_in_the_batch_or_the_table(db):
    record_statuses(db, [status("s1", "till-1", state="online", devices={"scanner": "ok"})])
    # Stored before; the will comes alone in a later batch.
    record_statuses(db, [status("s1", "till-1", state="offline")])
    # Both in one batch.
    record_statuses(
        db,
        [
            status("s1", "till-2", state="online", devices={"printer": "cover open"}),
            status("s1", "till-2", state="offline"),
        ],
    )
    fleet = by_device(db)
    assert fleet[("s1", "till-1")]["state"] == "offline"
    assert fleet[("s1", "till-1")]["devices"] == {"scanner": "ok"}
    assert fleet[("s1", "till-2")]["state"] == "offline"
    assert fleet[("s1", "till-2")]["devices"] == {"printer": "cover open"}


def test_a_heartbeat_vouching_for_events_the_centre_holds_raises_nothing(db):
    ingest_batch(db, "retail/v1", store_events("s1", "till-1", [1, 2, 3]))
    raised = record_statuses(db, [status("s1", "till-1", state="online", backlog=0, last_seq=3)])
    assert raised == []
    raised = record_statuses(db, [status("s1", "till-1", state="online", backlog=0, last_seq=5)])
    assert [(a.kind, a.seq) for a in raised] == [("events_removed", 4)]


def test_statuses_that_are_not_statuses_are_skipped(db):
    assert read_status("s1", b"not json") is None
    assert read_status("s1", b'{"device_id": "till-1"}') is None  # no state
    assert read_status(None, b'{"device_id": "till-1", "state": "online"}') is None
    read = read_status("s1", b'{"device_id": "till-1", "state": "online"}')
    assert read is not None and read.key == ("s1", "till-1")
    assert record_statuses(db, []) == []


def test_many_devices_in_one_batch_cross_the_in_list_limit(db):
    statuses = [status(f"s{n:04d}", "till-1", state="offline") for n in range(1200)]
    record_statuses(db, statuses)
    assert len(fleet_status(db)) == 1200


def test_two_workers_recording_the_same_statuses_at_once_do_not_deadlock(postgres_url):  # noqa: F811
    setup = CentralDb(postgres_url)
    setup.create_schema()
    setup.close()
    # The same heartbeats reach every worker (a plain subscription), split into batches
    # differently: here one worker's batch has them in the opposite order.
    statuses = [status(f"s{n:03d}", "till-1", state="online", backlog=n) for n in range(300)]

    def worker(batch: list[DeviceStatus]) -> None:
        db = CentralDb(postgres_url)
        try:
            for _ in range(5):
                record_statuses(db, batch)
        finally:
            db.close()

    results = run_at_once(lambda: worker(statuses), lambda: worker(statuses[::-1]))
    assert results == [None, None], results
    check = CentralDb(postgres_url)
    try:
        assert len(fleet_status(check)) == 300
    finally:
        check.close()
