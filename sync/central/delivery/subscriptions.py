"""Subscriptions: which platform receives which events, signed with which secrets.

Each subscription keeps, per device, a durable cursor (sync.central.delivery.worker)
and its own dead letters; this module owns the rows that say what a subscription is.
"""

from __future__ import annotations

import json
import re
import secrets as random_secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from sync.central.db import CentralDb
from sync.central.delivery.errors import SubscriptionError
from sync.central.integrity import ALARM_TYPE
from sync.protocol.clock import iso_now
from sync.protocol.envelope import EVENT_TYPES

ACTIVE = "active"
PAUSED = "paused"
# Fewer random bytes than this make a guessable HMAC key.
MIN_SECRET_BYTES = 24
# A subscriber that opts into batches gets at most this many events per request: the
# CloudEvents batch of one device's events in sequence order.
MAX_BATCH = 500
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_STORE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    types: tuple[str, ...]  # exact types, "prefix.*" or "*"
    stores: tuple[str, ...]  # empty: every store
    secrets: tuple[str, ...]
    batch_max: int  # 1: one structured CloudEvent per request
    state: str = ACTIVE

    def wants_type(self, event_type: str) -> bool:
        for pattern in self.types:
            if pattern == "*" or pattern == event_type:
                return True
            if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                return True
        return False

    def wants_store(self, store_id: str) -> bool:
        return not self.stores or store_id in self.stores

    @cached_property
    def signers(self) -> tuple[Webhook, ...]:
        return tuple(Webhook(secret) for secret in self.secrets)

    def public(self) -> dict[str, Any]:
        """What an operator may see: everything but the secrets."""
        return {
            "id": self.id,
            "url": self.url,
            "types": list(self.types),
            "stores": list(self.stores),
            "batch_max": self.batch_max,
            "state": self.state,
            "secrets": len(self.secrets),
        }


def new_secret() -> str:
    """A fresh Standard Webhooks secret (`whsec_` + base64 of 32 random bytes)."""
    return Webhook._SECRET_PREFIX + _b64(random_secrets.token_bytes(32))


def read_secret_file(path: Path) -> tuple[str, ...]:
    """Secrets, one per line (blank lines and `#` comments ignored); every one signs."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SubscriptionError(f"{path}: cannot read the secret file ({exc.strerror})") from None
    found = tuple(s.strip() for s in lines if s.strip() and not s.strip().startswith("#"))
    if not found:
        raise SubscriptionError(f"{path}: no secret in the file (one whsec_... per line)")
    return check_secrets(found, str(path))


def check_secrets(found: Iterable[str], where: str) -> tuple[str, ...]:
    checked = []
    for number, secret in enumerate(found, 1):
        try:
            key = Webhook(secret)._whsecret
        except Exception:
            raise SubscriptionError(
                f"{where}: secret {number} is not a Standard Webhooks secret (whsec_ + base64)"
            ) from None
        if len(key) < MIN_SECRET_BYTES:
            raise SubscriptionError(
                f"{where}: secret {number} has {len(key)} bytes; at least {MIN_SECRET_BYTES}"
            )
        checked.append(secret)
    return tuple(checked)


def make_subscription(
    sub_id: str,
    url: str,
    types: Iterable[str],
    stores: Iterable[str],
    secrets: Iterable[str],
    batch_max: int = 1,
) -> Subscription:
    """A checked subscription; SubscriptionError names what is wrong."""
    if not _ID.match(sub_id):
        raise SubscriptionError(
            f"subscription id {sub_id!r}: lower-case letters, digits, '-' or '_', 1-63 long"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubscriptionError(f"{url!r} is not an http:// or https:// URL")
    wanted = tuple(dict.fromkeys(t.strip() for t in types if t.strip()))
    if not wanted:
        raise SubscriptionError("say which event types to deliver (--types a.b,c.d or '*')")
    known = {*EVENT_TYPES, ALARM_TYPE}
    for pattern in wanted:
        prefix = pattern[:-1] if pattern.endswith(".*") else None
        if (
            pattern != "*"
            and pattern not in known
            and not (prefix and any(t.startswith(prefix) for t in known))
        ):
            raise SubscriptionError(
                f"unknown event type {pattern!r}; known: {', '.join(sorted(known))}"
            )
    store_ids = tuple(dict.fromkeys(s.strip() for s in stores if s.strip()))
    for store_id in store_ids:
        if not _STORE.match(store_id):
            raise SubscriptionError(f"store id {store_id!r} is not a store id")
    secrets = tuple(secrets)
    if not secrets:
        raise SubscriptionError(f"subscription {sub_id} needs at least one secret")
    if not 1 <= batch_max <= MAX_BATCH:
        raise SubscriptionError(f"batch size {batch_max}: 1 (no batches) to {MAX_BATCH}")
    return Subscription(sub_id, url, wanted, store_ids, secrets, batch_max)


def add_subscription(db: CentralDb, sub: Subscription, from_beginning: bool = False) -> None:
    """Store a new subscription. It starts with what arrives from now on, or with every
    event the centre holds (`from_beginning`)."""
    now = iso_now()
    with db.transaction():
        if get_subscription(db, sub.id, missing_ok=True) is not None:
            raise SubscriptionError(f"subscription {sub.id} exists; remove it or use apply")
        _insert(db, sub, now)
        if not from_beginning:
            # A cursor at each device's current mark; a device first heard of later
            # starts at its first event.
            db.execute(
                "INSERT INTO delivery_cursors (subscription_id, source, delivered_seq,"
                " delivered_count, failure_count, attempts, updated_at)"
                " SELECT %s, source, contiguous_seq, 0, 0, 0, %s FROM sources",
                [sub.id, now],
            )


def apply_subscriptions(db: CentralDb, subs: list[Subscription]) -> tuple[int, int]:
    """Create or update (keeping cursors) each subscription; returns (added, updated)."""
    added = updated = 0
    for sub in subs:
        existing = get_subscription(db, sub.id, missing_ok=True)
        if existing is None:
            add_subscription(db, sub)
            added += 1
        elif existing != sub:
            with db.transaction():
                db.execute(
                    "UPDATE subscriptions SET url = %s, types = %s, stores = %s, secrets = %s,"
                    " batch_max = %s, state = %s, updated_at = %s WHERE id = %s",
                    [*_columns(sub)[1:6], sub.state, iso_now(), sub.id],
                )
            updated += 1
    return added, updated


def list_subscriptions(db: CentralDb, active_only: bool = False) -> list[Subscription]:
    where = " WHERE state = 'active'" if active_only else ""
    rows = db.execute(
        "SELECT id, url, types, stores, secrets, batch_max, state FROM subscriptions"
        f"{where} ORDER BY id"
    ).fetchall()
    return [_from_row(row) for row in rows]


def get_subscription(db: CentralDb, sub_id: str, missing_ok: bool = False) -> Subscription | None:
    row = db.execute(
        "SELECT id, url, types, stores, secrets, batch_max, state FROM subscriptions WHERE id = %s",
        [sub_id],
    ).fetchone()
    if row is None and not missing_ok:
        raise SubscriptionError(f"no subscription {sub_id!r} (edge-central subscriptions list)")
    return None if row is None else _from_row(row)


def remove_subscription(db: CentralDb, sub_id: str) -> None:
    """Forget the subscription, its cursors and its dead letters."""
    with db.transaction():
        get_subscription(db, sub_id)
        for table, column in (
            ("delivery_dead_letters", "subscription_id"),
            ("delivery_cursors", "subscription_id"),
            ("subscriptions", "id"),
        ):
            db.execute(f"DELETE FROM {table} WHERE {column} = %s", [sub_id])


def set_state(db: CentralDb, sub_id: str, state: str) -> None:
    with db.transaction():
        get_subscription(db, sub_id)
        db.execute(
            "UPDATE subscriptions SET state = %s, updated_at = %s WHERE id = %s",
            [state, iso_now(), sub_id],
        )


def set_secrets(db: CentralDb, sub_id: str, secrets: tuple[str, ...]) -> None:
    """Replace the signing secrets (rotation: list the new one beside the old one, then,
    once the receiver verifies with the new one, list it alone)."""
    with db.transaction():
        get_subscription(db, sub_id)
        db.execute(
            "UPDATE subscriptions SET secrets = %s, updated_at = %s WHERE id = %s",
            [json.dumps(list(secrets)), iso_now(), sub_id],
        )


def replay_from(db: CentralDb, sub_id: str, from_time: str, source: str | None = None) -> int:
    """Move the subscription's cursors back so every event it wants from `from_time`
    (the event's own time, UTC, ISO 8601 to the microsecond with +00:00, as the ingest
    keeps `occurred_at`) on is delivered again; returns how many events that is.
    A cursor only ever moves back here, never past what is undelivered."""
    sub = get_subscription(db, sub_id)
    assert sub is not None
    now = iso_now()
    again = 0
    with db.transaction():
        sources = db.execute(
            "SELECT s.source, s.contiguous_seq, c.delivered_seq FROM sources s"
            " LEFT JOIN delivery_cursors c ON c.subscription_id = %s AND c.source = s.source"
            + (" WHERE s.source = %s" if source else ""),
            [sub_id, source] if source else [sub_id],
        ).fetchall()
        for src, _contiguous, cursor in sources:
            delivered = 0 if cursor is None else cursor  # no cursor row: nothing sent yet
            first = db.execute(
                "SELECT MIN(seq) FROM events WHERE source = %s AND occurred_at >= %s",
                [src, from_time],
            ).fetchone()[0]
            if first is None or first > delivered:
                continue
            back_to = first - 1
            db.execute(
                "INSERT INTO delivery_cursors (subscription_id, source, delivered_seq,"
                " delivered_count, failure_count, attempts, updated_at)"
                " VALUES (%s, %s, %s, 0, 0, 0, %s) ON CONFLICT (subscription_id, source)"
                " DO UPDATE SET delivered_seq = excluded.delivered_seq, attempts = 0,"
                " next_attempt_at = NULL, updated_at = excluded.updated_at",
                [sub_id, src, back_to, now],
            )
            types = db.execute(
                "SELECT type FROM events WHERE source = %s AND seq > %s AND seq <= %s",
                [src, back_to, delivered],
            ).fetchall()
            again += sum(1 for (t,) in types if sub.wants_type(t))
    return again


def dead_letters(db: CentralDb, sub_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    get_subscription(db, sub_id)
    rows = db.execute(
        "SELECT event_id, source, seq, type, status, response, failed_at"
        " FROM delivery_dead_letters WHERE subscription_id = %s ORDER BY failed_at, seq"
        " LIMIT %s",
        [sub_id, limit],
    ).fetchall()
    keys = ("event_id", "source", "seq", "type", "status", "response", "failed_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _insert(db: CentralDb, sub: Subscription, now: str) -> None:
    db.execute(
        "INSERT INTO subscriptions (id, url, types, stores, secrets, batch_max, state,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [*_columns(sub), sub.state, now, now],
    )


def _columns(sub: Subscription) -> list[Any]:
    return [
        sub.id,
        sub.url,
        json.dumps(list(sub.types)),
        json.dumps(list(sub.stores)),
        json.dumps(list(sub.secrets)),
        sub.batch_max,
    ]


def _from_row(row: Any) -> Subscription:
    sub_id, url, types, stores, secrets, batch_max, state = row
    return Subscription(
        sub_id,
        url,
        tuple(json.loads(types)),
        tuple(json.loads(stores)),
        tuple(json.loads(secrets)),
        int(batch_max),
        state,
    )


def _b64(raw: bytes) -> str:
    import base64

    return base64.b64encode(raw).decode()
