"""The fleet view: each device's last status (online/offline, version, backlog, scanner
and printer health), as its heartbeats and last will say, and the alarm a heartbeat can
raise when the centre lacks events the device says were acknowledged.

Statuses are written a worker's batch at a time, in one transaction that does not wait
for fsync: a fleet-wide reconnect brings one per device, and one transaction each held
the burst's event acks back by tens of seconds at 5,000 stores.

Each live status reaches one worker (a shared subscription), and a worker starting a
broker session is sent every retained one as well (sync.protocol.topics), so a device's
statuses are written by several workers in no common order, some twice: a row keeps the
newest by the device's own time (`at`), never the one that happened to commit last.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sync.central.db import CentralDb, in_lists
from sync.central.integrity import Alarm, check_reported_head
from sync.protocol.clock import to_iso, utc_now, utc_time
from sync.protocol.envelope import event_source

# How late an older status may still come: a worker restarted within its session's
# life (sync.central.service.WORKER_SESSION_EXPIRY_SECONDS, 120 s) handles what the
# broker dealt it meanwhile, and a fleet-wide burst holds messages in the queues for
# tens of seconds. A row nobody wrote for longer takes whatever status comes, so a
# device whose clock was set back is kept out of the view no longer than this.
LATE_STATUS_SECONDS = 300
# The state a device's last will and its clean stop say.
OFFLINE = "offline"


@dataclass
class DeviceStatus:
    store_id: str
    device_id: str
    body: dict[str, Any]
    # Where this status stands in its device's order: its own time, but an offline
    # status stands after whatever it replaces (`record_statuses`). None: it has no
    # readable time, and replaces any status.
    order_at: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.order_at = _own_time(self.body.get("at"))

    @property
    def key(self) -> tuple[str, str]:
        return self.store_id, self.device_id

    @property
    def offline(self) -> bool:
        return self.body.get("state") == OFFLINE


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
    """Write the newest status of each device in `statuses` in one transaction, where it
    is newer than the one stored; then check the heads they report. Returns the alarms
    raised.

    Newest by the device's own time (`at`), except that an offline status (a last will,
    whose time is when the device started, or a clean stop) always replaces the one
    stored and stands after it: a heartbeat as old as that one, coming late, leaves it.
    A status without a time replaces any."""
    newest: dict[tuple[str, str], DeviceStatus] = {}
    for status in statuses:
        previous = newest.get(status.key)
        if previous is not None and not _replaces(status, previous.order_at):
            continue
        if previous is not None and status.offline:
            status.order_at = _later(status.order_at, previous.order_at)
        if "devices" not in status.body and previous and "devices" in previous.body:
            # The last will says only "offline": keep the health it was last seen in.
            status.body["devices"] = previous.body["devices"]
        newest[status.key] = status
    if not newest:
        return []
    now = utc_now()
    untouched_since = to_iso(now - timedelta(seconds=LATE_STATUS_SECONDS))
    with db.transaction():
        if db.postgres:
            # A status is rewritten by the next heartbeat, so its commit does not wait
            # for fsync (~3 ms each, in the same queue as the burst's events).
            db.execute("SET LOCAL synchronous_commit TO OFF")
        _keep_last_known_health(db, [s for s in newest.values() if "devices" not in s.body])
        # In key order: two workers may write the same devices at once (a retained
        # status and a live one), and rows taken in one order make them wait in turn,
        # never in a cycle.
        rows = [_fleet_row(newest[key], to_iso(now)) for key in sorted(newest)]
        db.insert_rows(
            "INSERT INTO fleet (store_id, device_id, state, version, backlog, detail,"
            " last_seen, status_at)",
            ("text", "text", "text", "text", "bigint", "text", "text", "text"),
            rows,
            _FLEET_UPSERT,
            [untouched_since],
        )
    return _check_heads(db, newest.values())


# The same rule as `_replaces`, against the stored row, which only this statement reads
# (under its row lock): a row read before would be stale.
_FLEET_UPSERT = (
    " ON CONFLICT (store_id, device_id) DO UPDATE SET state = excluded.state,"
    " version = excluded.version, backlog = COALESCE(excluded.backlog, fleet.backlog),"
    " detail = excluded.detail, last_seen = excluded.last_seen,"
    f" status_at = CASE WHEN excluded.state = '{OFFLINE}'"
    " AND fleet.status_at > excluded.status_at THEN fleet.status_at"
    " ELSE excluded.status_at END"
    f" WHERE excluded.state = '{OFFLINE}' OR excluded.status_at IS NULL"
    " OR fleet.status_at IS NULL OR excluded.status_at > fleet.status_at"
    " OR fleet.last_seen < %s"
)


def _replaces(status: DeviceStatus, order_at: str | None) -> bool:
    """Whether `status` replaces one standing at `order_at` in its device's order."""
    return (
        status.offline or status.order_at is None or order_at is None or status.order_at > order_at
    )


def _later(first: str | None, second: str | None) -> str | None:
    if first is None or second is None:
        return first
    return max(first, second)


def _own_time(at: object) -> str | None:
    """A status's `at` as fixed-width UTC text (its order is time order), or None."""
    if not isinstance(at, str):
        return None
    try:
        moment = utc_time(at)
    except OverflowError:
        return None  # outside years 1-9999 in UTC: a device's clock gone wrong
    if moment is None or moment.year < 1000:
        return None  # unreadable, no time zone, or a year that would not keep the width
    return to_iso(moment)


def _fleet_row(status: DeviceStatus, now: str) -> tuple[Any, ...]:
    body = status.body
    backlog = body.get("backlog")
    version = body.get("version")
    return (
        status.store_id,
        status.device_id,
        str(body["state"]),
        # Text, whatever JSON a device sent: one column's values go as one array, and a
        # number among strings would fail the whole batch of statuses.
        version if isinstance(version, str) or version is None else json.dumps(version),
        backlog if isinstance(backlog, int) and not isinstance(backlog, bool) else None,
        json.dumps(body),
        now,
        status.order_at,
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
