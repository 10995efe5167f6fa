"""What the PassKit web service remembers: each pass's latest .pkpass and update tag,
which devices registered for which pass, and the APNs pushes still to send.

Works on any `StoreLike` (see `wallet/storage.py`).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from wallet.storage import StoreLike
from wallet.storage import parse_stamp as from_iso
from wallet.storage import stamp as to_iso


@dataclass(frozen=True)
class StoredPass:
    serial: str
    pass_type_id: str
    update_tag: int
    updated_at: datetime
    pkpass: bytes


@dataclass(frozen=True)
class QueuedPush:
    id: int
    push_token: str
    pass_type_id: str
    serial: str
    attempts: int


def save_pass(
    store: StoreLike,
    *,
    serial: str,
    pass_type_id: str,
    auth_token: str,
    pkpass: bytes,
    at: datetime,
) -> int:
    """Store a newly (re-)issued pass and queue a push to every device holding it.

    Returns the pass's new update tag. Must be called inside or outside a transaction;
    the pass and its pushes commit together.
    """
    with store.transaction() as db:
        (latest,) = db.execute(
            "SELECT COALESCE(MAX(update_tag), 0) FROM apple_passes WHERE pass_type_id = ?",
            [pass_type_id],
        ).fetchone()
        tag = latest + 1
        db.execute(
            "INSERT INTO apple_passes (serial, pass_type_id, auth_token, update_tag, updated_at,"
            " pkpass) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO UPDATE SET"
            " update_tag = excluded.update_tag, updated_at = excluded.updated_at,"
            " pkpass = excluded.pkpass",
            [serial, pass_type_id, auth_token, tag, to_iso(at), pkpass],
        )
        # One push per device and pass type, however many passes changed: on the push
        # the device asks which serials changed since its last tag.
        db.execute(
            "INSERT OR IGNORE INTO apns_push_queue (push_token, pass_type_id, serial, queued_at)"
            " SELECT push_token, pass_type_id, serial, ? FROM apple_registrations"
            " WHERE serial = ? AND pass_type_id = ?",
            [to_iso(at), serial, pass_type_id],
        )
    return tag


def is_authorised(store: StoreLike, pass_type_id: str, serial: str, token: str) -> bool:
    row = store.db.execute(
        "SELECT auth_token FROM apple_passes WHERE pass_type_id = ? AND serial = ?",
        [pass_type_id, serial],
    ).fetchone()
    # Compare in constant time even when the pass is unknown, so timing tells nothing.
    expected = row[0] if row else "\0" * 32
    return hmac.compare_digest(expected.encode(), token.encode()) and row is not None


def register_device(
    store: StoreLike,
    *,
    device_id: str,
    push_token: str,
    pass_type_id: str,
    serial: str,
    at: datetime,
) -> bool:
    """Record that a device holds a pass; True if new, False if it was registered already."""
    key = [device_id, pass_type_id, serial]
    with store.transaction() as db:
        row = db.execute(
            "SELECT push_token FROM apple_registrations"
            " WHERE device_id = ? AND pass_type_id = ? AND serial = ?",
            key,
        ).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO apple_registrations (device_id, pass_type_id, serial, push_token,"
                " registered_at) VALUES (?, ?, ?, ?, ?)",
                [*key, push_token, to_iso(at)],
            )
            return True
        if row[0] != push_token:  # the device got a new push token; keep the newest
            db.execute(
                "UPDATE apple_registrations SET push_token = ?"
                " WHERE device_id = ? AND pass_type_id = ? AND serial = ?",
                [push_token, *key],
            )
        return False


def unregister_device(store: StoreLike, *, device_id: str, pass_type_id: str, serial: str) -> bool:
    with store.transaction() as db:
        cursor = db.execute(
            "DELETE FROM apple_registrations"
            " WHERE device_id = ? AND pass_type_id = ? AND serial = ?",
            [device_id, pass_type_id, serial],
        )
    return cursor.rowcount > 0


def serials_updated_since(
    store: StoreLike, *, device_id: str, pass_type_id: str, since_tag: int | None
) -> tuple[list[str], int]:
    """Serials of this device's passes re-issued after `since_tag`, and the newest tag."""
    rows = store.db.execute(
        "SELECT p.serial, p.update_tag FROM apple_registrations r"
        " JOIN apple_passes p ON p.serial = r.serial AND p.pass_type_id = r.pass_type_id"
        " WHERE r.device_id = ? AND r.pass_type_id = ? AND p.update_tag > ?"
        " ORDER BY p.update_tag",
        [device_id, pass_type_id, since_tag or 0],
    ).fetchall()
    return [serial for serial, _ in rows], max((tag for _, tag in rows), default=0)


def latest_pass(store: StoreLike, pass_type_id: str, serial: str) -> StoredPass | None:
    row = store.db.execute(
        "SELECT serial, pass_type_id, update_tag, updated_at, pkpass FROM apple_passes"
        " WHERE pass_type_id = ? AND serial = ?",
        [pass_type_id, serial],
    ).fetchone()
    if row is None:
        return None
    return StoredPass(row[0], row[1], row[2], from_iso(row[3]), bytes(row[4]))


def pending_pushes(store: StoreLike, limit: int = 100) -> list[QueuedPush]:
    rows = store.db.execute(
        "SELECT id, push_token, pass_type_id, serial, attempts FROM apns_push_queue"
        " ORDER BY id LIMIT ?",
        [limit],
    ).fetchall()
    return [QueuedPush(*row) for row in rows]


def push_delivered(store: StoreLike, push_id: int) -> None:
    with store.transaction() as db:
        db.execute("DELETE FROM apns_push_queue WHERE id = ?", [push_id])


def push_failed(store: StoreLike, push_id: int, error: str) -> None:
    with store.transaction() as db:
        db.execute(
            "UPDATE apns_push_queue SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            [error[:500], push_id],
        )


def forget_push_token(store: StoreLike, push_token: str) -> int:
    """APNs said the token is gone (410): drop its registrations and queued pushes."""
    with store.transaction() as db:
        db.execute("DELETE FROM apns_push_queue WHERE push_token = ?", [push_token])
        cursor = db.execute("DELETE FROM apple_registrations WHERE push_token = ?", [push_token])
    return cursor.rowcount
