"""Drains the outbox to the broker in store order; a row leaves only on the centre's ack.

A PUBACK means only that the broker took the message (Mosquitto writes to disk every
half hour by default, and paho keeps its session in memory), so it is flow control and
nothing more. A row is marked acknowledged when the centre says it committed the event;
until then the row stays and is sent again after a timeout or a reconnect, and the
centre drops the repeat by event id. Every method runs on the sync worker thread.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from edge_agent.clock import from_iso, to_iso
from edge_agent.store import Store
from sync.errors import MessageTooLarge, SyncError

log = logging.getLogger(__name__)

# Events sent but not yet acknowledged by the centre: enough to keep the pipe full
# across a round trip to the centre, small enough that status messages published
# behind them are not held up long.
DEFAULT_WINDOW = 500
# Waiting this long for the centre's ack means it (or the broker) lost the events:
# send the window again. Doubles while nothing is acknowledged, up to the cap, so an
# absent centre is not flooded.
ACK_TIMEOUT_SECONDS = 10.0
ACK_TIMEOUT_CAP_SECONDS = 120.0
# After this many refusals by the broker (too large, not authorised) an event is parked
# with the reason so it stops blocking the events behind it.
MAX_REFUSALS = 3
# Acknowledged rows are kept a day for inspection, then pruned.
ACKED_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class AckMessage:
    ids: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]


def ack_time(payload: bytes) -> datetime | None:
    """The centre's commit time on an ack (`at`), if it carries a readable one."""
    try:
        return from_iso(json.loads(payload)["at"])
    except (ValueError, KeyError, TypeError):
        return None


def parse_ack(payload: bytes) -> AckMessage:
    """`{"ids": [...], "rejected": [{"id", "reason"}]}`; raises ValueError if malformed."""
    body = json.loads(payload)
    ids = body.get("ids", [])
    rejected = body.get("rejected", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ValueError("ack 'ids' must be a list of event ids")
    if not isinstance(rejected, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in rejected
    ):
        raise ValueError("ack 'rejected' must be a list of {id, reason}")
    return AckMessage(
        tuple(ids), tuple((r["id"], str(r.get("reason", "refused"))[:500]) for r in rejected)
    )


class OutboxPublisher:
    def __init__(
        self,
        store: Store,
        publish: Callable[[bytes], int],
        clock: Callable[[], datetime],
        window: int = DEFAULT_WINDOW,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
    ) -> None:
        self._store = store
        self._publish = publish
        self._clock = clock
        self._window = window
        self._cursor = 0  # highest seq handed to the broker on this connection
        self._sent: dict[str, tuple[int, float]] = {}  # event id -> (seq, sent at)
        self._mids: dict[int, str] = {}  # MQTT message id -> event id
        self._first_ack_timeout = ack_timeout
        self._ack_timeout = ack_timeout
        self.acked_total = 0
        # The event the broker had not acknowledged when it last dropped the connection,
        # and how many drops in a row it was that one (see on_disconnected).
        self._suspect: tuple[str, int] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._sent)

    def restart(self) -> None:
        """After a (re)connect: send everything unacknowledged again, in order."""
        self._cursor = 0
        self._sent.clear()
        self._mids.clear()

    def fill(self) -> int:
        """Publish the next events up to the window; returns how many were sent."""
        room = self._window - len(self._sent)
        if room <= 0:
            return 0
        rows = self._store.db.execute(
            "SELECT seq, event_id, envelope FROM outbox WHERE acked_at IS NULL"
            " AND parked_reason IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            [self._cursor, room],
        ).fetchall()
        now = time.monotonic()
        for seq, event_id, envelope in rows:
            event = json.loads(envelope)
            event["sequence"] = str(seq)
            try:
                mid = self._publish(json.dumps(event, ensure_ascii=False).encode())
            except MessageTooLarge as exc:
                self._park(event_id, f"the broker refuses it: {exc.message}")
                self._cursor = seq
                continue
            except SyncError as exc:
                log.debug("publish paused: %s", exc)
                return 0
            self._sent[event_id] = (seq, now)
            self._mids[mid] = event_id
            self._cursor = seq
        return len(rows)

    def on_ack(self, ack: AckMessage) -> int:
        """The centre committed these events: mark them; park the ones it refused."""
        at = to_iso(self._clock())
        marked = 0
        with self._store.transaction() as db:
            for chunk in _chunks(list(ack.ids), 500):
                marks = ",".join("?" * len(chunk))
                cursor = db.execute(
                    f"UPDATE outbox SET acked_at = ? WHERE acked_at IS NULL"
                    f" AND event_id IN ({marks})",
                    [at, *chunk],
                )
                marked += cursor.rowcount
            for event_id, reason in ack.rejected:
                db.execute(
                    "UPDATE outbox SET parked_reason = ?, last_error = ? WHERE event_id = ?"
                    " AND acked_at IS NULL",
                    [f"refused by the centre: {reason}", reason, event_id],
                )
        for event_id in (*ack.ids, *(r[0] for r in ack.rejected)):
            self._sent.pop(event_id, None)
        if ack.rejected:
            log.error("the centre refused %d event(s); they are parked", len(ack.rejected))
        if marked:
            self._ack_timeout = self._first_ack_timeout
            self.acked_total += marked
        return marked

    def on_disconnected(self) -> None:
        """The broker dropped the connection. Mosquitto does that, instead of refusing
        one message, for a packet over its size limit when it did not announce the
        limit: the event it choked on is the first one it had not acknowledged. The same
        event there on MAX_REFUSALS drops in a row is parked, so it stops taking the
        connection (and every event behind it) down with it."""
        waiting = [(self._sent[e][0], e) for e in self._mids.values() if e in self._sent]
        if not waiting:
            return
        _, event_id = min(waiting)
        drops = self._suspect[1] + 1 if self._suspect and self._suspect[0] == event_id else 1
        self._suspect = (event_id, drops)
        if drops >= MAX_REFUSALS:
            self._park(
                event_id,
                f"the broker closed the connection each time it got this event ({drops}"
                " times in a row); probably over its message size limit",
            )
            self._suspect = None

    def on_published(self, mid: int, refusal: str | None) -> None:
        """The broker's PUBACK: flow control only, except a refusal is counted."""
        event_id = self._mids.pop(mid, None)
        if event_id is not None and self._suspect and self._suspect[0] == event_id:
            self._suspect = None  # it went through after all
        if event_id is None or refusal is None:
            return
        with self._store.transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE event_id = ?",
                [f"broker refused: {refusal}", event_id],
            )
            attempts = db.execute(
                "SELECT attempts FROM outbox WHERE event_id = ?", [event_id]
            ).fetchone()
            if attempts and attempts[0] >= MAX_REFUSALS:
                db.execute(
                    "UPDATE outbox SET parked_reason = ? WHERE event_id = ?",
                    [f"broker refused it {attempts[0]} times: {refusal}", event_id],
                )
                self._sent.pop(event_id, None)
                log.error("event %s parked: the broker refuses it (%s)", event_id, refusal)

    def _park(self, event_id: str, reason: str) -> None:
        with self._store.transaction() as db:
            db.execute(
                "UPDATE outbox SET parked_reason = ?, last_error = ?, attempts = attempts + 1"
                " WHERE event_id = ? AND acked_at IS NULL",
                [reason, reason, event_id],
            )
        self._sent.pop(event_id, None)
        log.error("event %s parked: %s", event_id, reason)

    def check_ack_timeout(self) -> bool:
        """Go back and resend from the oldest unacknowledged event if the centre is late."""
        if not self._sent:
            return False
        oldest_seq, oldest_at = min(self._sent.values())
        if time.monotonic() - oldest_at < self._ack_timeout:
            return False
        log.warning(
            "no ack from the centre for %.0fs; sending %d event(s) again from seq %d",
            self._ack_timeout,
            len(self._sent),
            oldest_seq,
        )
        self._cursor = oldest_seq - 1
        self._sent.clear()
        self._mids.clear()
        self._ack_timeout = min(self._ack_timeout * 2, ACK_TIMEOUT_CAP_SECONDS)
        return True

    def prune(self) -> int:
        cutoff = to_iso(self._clock() - ACKED_RETENTION)
        with self._store.transaction() as db:
            return db.execute(
                "DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?", [cutoff]
            ).rowcount


def parked_count(store: Store) -> int:
    return store.db.execute(
        "SELECT COUNT(*) FROM outbox WHERE parked_reason IS NOT NULL AND acked_at IS NULL"
    ).fetchone()[0]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
