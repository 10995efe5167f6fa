"""The PassKit web service's records at the centre: which devices hold which Apple pass,
the newest signed .pkpass and its update tag. Implements `wallet.apple.webservice`'s
`PassRegistry` over the centre's database, one connection per server thread."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sync.central.db import CentralDb
from sync.central.wallet.passes import pass_customer
from sync.protocol.clock import from_iso, to_iso
from wallet.apple.webservice import StoredPass

log = logging.getLogger(__name__)


class ThreadDb:
    """One `CentralDb` per thread (a connection belongs to the thread that opened it);
    a connection that failed is replaced on the next use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list[CentralDb] = []
        self._lock = threading.Lock()

    @contextmanager
    def connection(self) -> Iterator[CentralDb]:
        db = getattr(self._local, "db", None)
        if db is None:
            db = CentralDb(self.url)
            self._local.db = db
            with self._lock:
                self._all.append(db)
        try:
            yield db
        except Exception:
            self._local.db = None
            try:
                db.close()
            except Exception:
                log.debug("closing a failed connection failed", exc_info=True)
            raise

    def close(self) -> None:
        with self._lock:
            for db in self._all:
                try:
                    db.close()
                except Exception:
                    log.debug("closing a connection failed", exc_info=True)
            self._all.clear()


class CentrePassRegistry:
    """`on_presence(customer_id)` is told after a device registers or unregisters, so the
    stores can learn whether the customer carries the pass."""

    def __init__(self, dbs: ThreadDb, on_presence: Callable[[str], None] | None = None) -> None:
        self._dbs = dbs
        self._on_presence = on_presence

    def is_authorised(self, pass_type_id: str, serial: str, token: str) -> bool:
        with self._dbs.connection() as db:
            row = db.execute(
                "SELECT auth_token FROM wallet_passes WHERE pass_type_id = %s AND serial = %s"
                " AND status = 'active'",
                [pass_type_id, serial],
            ).fetchone()
        # Constant time whether or not the pass exists: timing tells nothing.
        expected = row[0] if row and row[0] else "\0" * 32
        return hmac.compare_digest(expected.encode(), token.encode()) and row is not None

    def register_device(
        self, *, device_id: str, push_token: str, pass_type_id: str, serial: str, at: datetime
    ) -> bool:
        key = [device_id, pass_type_id, serial]
        with self._dbs.connection() as db, db.transaction():
            row = db.execute(
                "SELECT push_token FROM wallet_registrations"
                " WHERE device_id = %s AND pass_type_id = %s AND serial = %s",
                key,
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO wallet_registrations (device_id, pass_type_id, serial,"
                    " push_token, registered_at) VALUES (%s, %s, %s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    [*key, push_token, to_iso(at)],
                )
            elif row[0] != push_token:  # the device got a new push token; keep the newest
                db.execute(
                    "UPDATE wallet_registrations SET push_token = %s"
                    " WHERE device_id = %s AND pass_type_id = %s AND serial = %s",
                    [push_token, *key],
                )
            customer_id = pass_customer(db, serial)
        if row is None and customer_id and self._on_presence:
            self._on_presence(customer_id)
        return row is None

    def unregister_device(self, *, device_id: str, pass_type_id: str, serial: str) -> bool:
        with self._dbs.connection() as db, db.transaction():
            cursor = db.execute(
                "DELETE FROM wallet_registrations"
                " WHERE device_id = %s AND pass_type_id = %s AND serial = %s",
                [device_id, pass_type_id, serial],
            )
            gone = cursor.rowcount > 0
            customer_id = pass_customer(db, serial)
        if gone and customer_id and self._on_presence:
            self._on_presence(customer_id)
        return gone

    def serials_updated_since(
        self, *, device_id: str, pass_type_id: str, since_tag: int | None
    ) -> tuple[list[str], int]:
        with self._dbs.connection() as db:
            rows = db.execute(
                "SELECT p.serial, p.update_tag FROM wallet_registrations r"
                " JOIN wallet_passes p ON p.serial = r.serial AND p.pass_type_id = r.pass_type_id"
                " WHERE r.device_id = %s AND r.pass_type_id = %s AND p.update_tag > %s"
                " ORDER BY p.update_tag",
                [device_id, pass_type_id, since_tag or 0],
            ).fetchall()
        return [serial for serial, _ in rows], max((int(tag) for _, tag in rows), default=0)

    def latest_pass(self, pass_type_id: str, serial: str) -> StoredPass | None:
        with self._dbs.connection() as db:
            row = db.execute(
                "SELECT serial, pass_type_id, update_tag, updated_at, pkpass FROM wallet_passes"
                " WHERE pass_type_id = %s AND serial = %s AND pkpass IS NOT NULL",
                [pass_type_id, serial],
            ).fetchone()
        if row is None:
            return None
        return StoredPass(row[0], row[1], int(row[2]), from_iso(row[3]), bytes(row[4]))
