"""Device statuses written a batch at a time: the newest per device wins (by the
device's own time, whatever order they come in), a last will keeps the health last
seen, and a heartbeat that vouches for events the centre has raises nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import sync.central.fleet as fleet
from sync.central.db import CentralDb
from sync.central.fleet import DeviceStatus, fleet_status, read_status, record_statuses
from sync.central.ingest import ingest_batch
from sync.protocol.clock import to_iso
from tests.at_once import run_at_once
from tests.delivery.conftest import store_events
from tests.sync.postgres import postgres_url  # noqa: F401 - the fixture


@pytest.fixture
def db(centre):
    return centre


# The till's clock when it started, i.e. the time its last will carries.
STARTED = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


def status(store: str, device: str, **body) -> DeviceStatus:
    return DeviceStatus(store, device, {"device_id": device, **body})


def at(seconds: float) -> str:
    """The till's clock, `seconds` after it started, as its statuses say it."""
    return to_iso(STARTED + timedelta(seconds=seconds))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    """The centre's database on SQLite and on PostgreSQL: the newest-wins rule is SQL."""
    url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    db = CentralDb(url)
    db.create_schema()
    yield db
    db.close()


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


def test_an_older_status_coming_after_a_newer_one_leaves_the_newer(any_db):
    # Two workers' batches: the heartbeat of 60 s commits before the one of 30 s.
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=2, at=at(60))])
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=9, at=at(30))])
    # In one batch too (a retained copy behind a live one).
    record_statuses(
        any_db,
        [
            status("s1", "till-2", state="online", backlog=1, at=at(60)),
            status("s1", "till-2", state="online", backlog=8, at=at(30)),
        ],
    )
    fleet = by_device(any_db)
    assert fleet[("s1", "till-1")]["backlog"] == 2
    assert fleet[("s1", "till-2")]["backlog"] == 1


def test_the_same_status_twice_leaves_the_row_as_the_first_wrote_it(any_db):
    heartbeat = {"state": "online", "backlog": 3, "at": at(30)}
    record_statuses(any_db, [status("s1", "till-1", **heartbeat)])
    first = by_device(any_db)[("s1", "till-1")]
    record_statuses(any_db, [status("s1", "till-1", **heartbeat)])
    assert by_device(any_db)[("s1", "till-1")] == first


def test_a_last_will_replaces_later_heartbeats_and_a_late_copy_of_them_leaves_it(any_db):
    online = {"state": "online", "backlog": 0, "devices": {"printer": "ok"}}
    record_statuses(any_db, [status("s1", "till-1", **online, at=at(30))])
    record_statuses(any_db, [status("s1", "till-1", **online, at=at(60))])
    # The will carries the time the till started, before both heartbeats.
    record_statuses(any_db, [status("s1", "till-1", state="offline", at=at(0))])
    assert by_device(any_db)[("s1", "till-1")]["state"] == "offline"
    # The last heartbeat again, late (a worker's retained copy), and an older one.
    record_statuses(any_db, [status("s1", "till-1", **online, at=at(60))])
    record_statuses(any_db, [status("s1", "till-1", **online, at=at(30))])
    assert by_device(any_db)[("s1", "till-1")]["state"] == "offline"
    assert by_device(any_db)[("s1", "till-1")]["devices"] == {"printer": "ok"}
    # The till back: its first heartbeat is newer than anything it said before.
    record_statuses(any_db, [status("s1", "till-1", **online, at=at(600))])
    assert by_device(any_db)[("s1", "till-1")]["state"] == "online"


def test_a_last_will_in_the_batch_of_the_heartbeat_before_it_stands_after_it(any_db):
    online = {"state": "online", "backlog": 0}
    record_statuses(
        any_db,
        [
            status("s1", "till-1", **online, at=at(60)),
            status("s1", "till-1", state="offline", at=at(0)),
        ],
    )
    record_statuses(any_db, [status("s1", "till-1", **online, at=at(60))])
    assert by_device(any_db)[("s1", "till-1")]["state"] == "offline"


def test_a_device_whose_clock_went_back_is_heard_again_once_its_row_is_old(any_db, monkeypatch):
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=5, at=at(3600))])
    # The clock was an hour ahead and is put right: its next heartbeats look older.
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=4, at=at(30))])
    assert by_device(any_db)[("s1", "till-1")]["backlog"] == 5
    later = datetime.now(UTC) + timedelta(seconds=fleet.LATE_STATUS_SECONDS + 1)
    monkeypatch.setattr(fleet, "utc_now", lambda: later)
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=3, at=at(60))])
    assert by_device(any_db)[("s1", "till-1")]["backlog"] == 3


def test_statuses_without_a_readable_time_replace_any(any_db):
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=5, at=at(60))])
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=4)])
    assert by_device(any_db)[("s1", "till-1")]["backlog"] == 4
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=3, at="yesterday")])
    assert by_device(any_db)[("s1", "till-1")]["backlog"] == 3
    naive = "2026-11-29T10:00:00"
    record_statuses(any_db, [status("s1", "till-1", state="online", backlog=2, at=naive)])
    assert by_device(any_db)[("s1", "till-1")]["backlog"] == 2
    # In year 10000 once in UTC: read as no time, not an error that drops the batch.
    beyond = json.dumps({"device_id": "till-1", "state": "online", "backlog": 1,
                         "at": "9999-12-31T23:00:00-05:00"}).encode()  # fmt: skip
    other = status("s2", "kiosk-1", state="online", backlog=7, at=at(60))
    beyond_status = read_status("s1", beyond)
    assert beyond_status is not None
    record_statuses(any_db, [beyond_status, other])
    assert by_device(any_db)[("s1", "till-1")]["backlog"] == 1
    assert by_device(any_db)[("s2", "kiosk-1")]["backlog"] == 7


def test_a_heartbeat_vouching_for_events_the_centre_holds_raises_nothing(db):
    ingest_batch(db, "retail/v1", store_events("s1", "till-1", [1, 2, 3]))
    raised = record_statuses(db, [status("s1", "till-1", state="online", backlog=0, last_seq=3)])
    assert raised == []
    raised = record_statuses(db, [status("s1", "till-1", state="online", backlog=0, last_seq=5)])
    assert [(a.kind, a.seq) for a in raised] == [("events_removed", 4)]


def test_versions_and_backlogs_of_any_json_type_are_recorded_with_the_batch(any_db):
    """A device may send its version as a number or its backlog as something other than
    a count: that device's row says so as text (or no backlog), and the batch's other
    statuses are recorded all the same."""
    record_statuses(
        any_db,
        [
            status("s1", "till-1", state="online", version="1.4.2", backlog=3),
            status("s1", "till-2", state="online", version=3, backlog=True),
            status("s2", "kiosk-1", state="online", version={"build": 7}, backlog="many"),
            status("s2", "kiosk-2", state="online", version=None, backlog=0),
        ],
    )
    fleet = by_device(any_db)
    assert {key: (d["version"], d["backlog"]) for key, d in fleet.items()} == {
        ("s1", "till-1"): ("1.4.2", 3),
        ("s1", "till-2"): ("3", None),
        ("s2", "kiosk-1"): ('{"build": 7}', None),
        ("s2", "kiosk-2"): (None, 0),
    }


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
    # The same heartbeats in two workers' batches (a worker fetching the retained ones
    # while another takes them live), in opposite orders.
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
