"""The fleet view: each device's last status (online/offline, version, backlog, scanner
and printer health), as its heartbeats and last will say, and the alarm a heartbeat can
raise when the centre lacks events the device says were acknowledged.

Statuses are written a worker's batch at a time, in one transaction that does not wait
for fsync: a fleet-wide reconnect brings one per device to every worker (the status
subscription is not shared, for the retained ones: sync.protocol.topics), and one
transaction each held the burst's event acks back by tens of seconds at 5,000 stores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sync.central.db import CentralDb, in_lists
from sync.central.integrity import Alarm, check_reported_head
from sync.protocol.clock import iso_now
from sync.protocol.envelope import event_source


@dataclass
class DeviceStatus:
    store_id: str
    device_id: str
    body: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.store_id, self.device_id


def read_status(store_id: str | None, payload: bytes) -> DeviceStatus | None:
    """A status message as a device publishes it, or None if it is not one."""
    if store_id is None:
        return None
    try:
        body = json.loads(payload)
        device_id = str(body["device_id"])
        str(body["state"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return DeviceStatus(store_id, device_id, body)


def record_statuses(db: CentralDb, statuses: Iterable[DeviceStatus]) -> list[Alarm]:
    """Write the newest status of each device in `statuses` (in arrival order) in one
    transaction; then check the heads they report. Returns the alarms raised."""
    newest: dict[tuple[str, str], DeviceStatus] = {}
    for status in statuses:
        previous = newest.get(status.key)
        if "devices" not in status.body and previous and "devices" in previous.body:
            # The last will says only "offline": keep the health it was last seen in.
            status.body["devices"] = previous.body["devices"]
        newest[status.key] = status
    if not newest:
        return []
    now = iso_now()
    with db.transaction():
        if db.postgres:
            # A status is rewritten by the next heartbeat, so its commit does not wait
            # for fsync (~3 ms each, in the same queue as the burst's events).
            db.execute("SET LOCAL synchronous_commit TO OFF")
        _keep_last_known_health(db, [s for s in newest.values() if "devices" not in s.body])
        db.executemany(
            "INSERT INTO fleet (store_id, device_id, state, version, backlog, detail,"
            " last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (store_id,"
            " device_id) DO UPDATE SET state = excluded.state, version = excluded.version,"
            " backlog = COALESCE(excluded.backlog, fleet.backlog),"
            " detail = excluded.detail, last_seen = excluded.last_seen",
            # In key order: every worker writes every status (see above), and rows
            # taken in one order make two workers wait in turn, never in a cycle.
            [_fleet_row(newest[key], now) for key in sorted(newest)],
        )
    return _check_heads(db, newest.values())


def _fleet_row(status: DeviceStatus, now: str) -> tuple[Any, ...]:
    body = status.body
    backlog = body.get("backlog")
    return (
        status.store_id,
        status.device_id,
        str(body["state"]),
        body.get("version"),
        backlog if isinstance(backlog, int) else None,
        json.dumps(body),
        now,
    )


def _keep_last_known_health(db: CentralDb, offline: list[DeviceStatus]) -> None:
    """Give last wills without device health the health stored for that device."""
    stored: dict[tuple[str, str], str] = {}
    for chunk, _ in in_lists(offline):
        pairs = " OR ".join("(store_id = %s AND device_id = %s)" for _ in chunk)
        params = [value for s in chunk for value in s.key]
        for store_id, device_id, detail in db.execute(
            f"SELECT store_id, device_id, detail FROM fleet WHERE {pairs}", params
        ).fetchall():
            stored[(store_id, device_id)] = detail
    for status in offline:
        if previous := devices_from(stored.get(status.key, "")):
            status.body["devices"] = previous


def _check_heads(db: CentralDb, statuses: Iterable[DeviceStatus]) -> list[Alarm]:
    """A heartbeat with nothing waiting vouches for every seq up to its newest: check
    those the centre may lack (one read for all; the locking check only where the
    centre's mark is behind)."""
    vouching = {
        event_source(s.store_id, s.device_id): s
        for s in statuses
        if s.body.get("backlog") == 0
        and isinstance(s.body.get("last_seq"), int)
        and s.body["last_seq"] >= 1
    }
    contiguous: dict[str, int] = {}
    for chunk, marks in in_lists(list(vouching)):
        for source, seq in db.execute(
            f"SELECT source, contiguous_seq FROM sources WHERE source IN ({marks})", chunk
        ).fetchall():
            contiguous[source] = int(seq)
    alarms = []
    for source, s in vouching.items():
        if contiguous.get(source, 0) >= s.body["last_seq"]:
            continue
        alarm = check_reported_head(
            db, s.store_id, s.device_id, s.body["backlog"], s.body["last_seq"]
        )
        if alarm is not None:
            alarms.append(alarm)
    return alarms


def fleet_status(db: CentralDb) -> list[dict]:
    """Every device the centre has heard from, with its state, backlog and sequence gaps."""
    rows = db.execute(
        "SELECT store_id, device_id, state, version, backlog, last_seen, detail FROM fleet"
        " ORDER BY store_id, device_id"
    ).fetchall()
    gaps = {
        (r[0], r[1].rsplit("/", 1)[-1]): (r[2], r[3])
        for r in db.execute(
            "SELECT store_id, source, contiguous_seq, max_seq FROM sources"
        ).fetchall()
    }
    fleet = []
    for store_id, device_id, state, version, backlog, last_seen, detail in rows:
        contiguous, highest = gaps.get((store_id, device_id), (0, 0))
        devices = devices_from(detail)
        fleet.append(
            {
                "store_id": store_id,
                "device_id": device_id,
                "state": state,
                "version": version,
                "backlog": backlog,
                "last_seen": last_seen,
                "received_through_seq": contiguous,
                "gap": highest > contiguous,
                "devices": devices,
                "device_problems": sorted(k for k, v in devices.items() if v != "ok"),
            }
        )
    return fleet


def devices_from(detail: str) -> dict[str, str]:
    """Scanner/printer health from the device's last heartbeat (the offline last will
    carries none, so the last known health stays visible)."""
    try:
        devices = json.loads(detail).get("devices")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(devices, dict):
        return {}
    return {str(k)[:64]: str(v)[:200] for k, v in devices.items()}
