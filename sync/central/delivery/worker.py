"""The deliverer: sends each subscription the events it wants, per device in store
sequence order, at least once.

Work is a (subscription, device) pair. A thread takes one by leasing its cursor row
(a conditional UPDATE that both PostgreSQL and SQLite serialise), sends the device's
events beyond the cursor up to the device's contiguous mark (`sources.contiguous_seq`:
every earlier event has arrived, so a gap holds that device only), and moves the
cursor after each 2xx, in its own commit. A worker killed mid-request therefore re-sends
at most that request's events; its lease runs out (or the same worker id, restarted,
takes it back at once) and the device goes on from the cursor. Threads, workers in
one process and workers on other hosts all share the work the same way.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from sync.central.db import CentralDb, close_quietly
from sync.central.delivery.subscriptions import Subscription, list_subscriptions
from sync.central.delivery.wire import (
    RESPONSE_KEEP_BYTES,
    Outcome,
    StoredEvent,
    build_request,
    classify,
)
from sync.central.supervision import Part
from sync.protocol.clock import iso_now, to_iso

log = logging.getLogger(__name__)

# PostgreSQL channel the ingest notifies after a commit with new events, so workers on
# other hosts wake at once instead of at their next poll.
NOTIFY_CHANNEL = "edge_central_events"
# Pairs taken from one scan: enough to keep every thread busy until the next.
SCAN_LIMIT = 256


@dataclass(frozen=True)
class DeliverySettings:
    threads: int = 4
    # One request's limit; a timeout is retried like a 5xx.
    timeout_seconds: float = 10.0
    # Exponential backoff per subscription x device: base * 2^(attempt-1), capped, with
    # jitter (a random half of it), so a subscriber back after a day is tried again
    # within `retry_max_seconds` and a fleet of devices does not knock in step.
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    # How long a taken (subscription, device) stays another worker's to keep away
    # from; renewed on every commit. Longer than one request's timeout.
    lease_seconds: float = 30.0
    # Without a wake-up (another process ingested, SQLite has no NOTIFY), look this often.
    poll_seconds: float = 0.25
    page_size: int = 500
    # A thread gives up a busy (subscription, device) after this long so the others
    # get their turn; it comes back to it on its next round.
    slice_seconds: float = 2.0
    # The search for (subscription, device) pairs with work joins every subscription
    # with every device: one thread per worker runs it, at most this often, however
    # many commits wake the threads; the others take from what it found.
    min_scan_seconds: float = 0.05

    def __post_init__(self) -> None:
        # A live worker must never lose its lease mid-slice: the longest it holds one
        # between two renewals is a slice plus a request.
        if self.lease_seconds <= self.slice_seconds + self.timeout_seconds:
            raise ValueError("lease_seconds must exceed slice_seconds + timeout_seconds")


class Wakeup:
    """Tells idle delivery threads that events were committed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.generation = 0

    def signal(self) -> None:
        with self._cond:
            self.generation += 1
            self._cond.notify_all()

    def wait(self, seen: int, timeout: float) -> None:
        with self._cond:
            if self.generation == seen:
                self._cond.wait(timeout)


@dataclass
class _Work:
    sub: Subscription
    source: str
    store_id: str
    cursor: int
    attempts: int


class DeliveryWorker:
    """Delivery threads of one worker process; run as many workers as you like."""

    def __init__(
        self,
        db_url: str,
        worker_id: str,
        settings: DeliverySettings | None = None,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.db_url = db_url
        self.worker_id = worker_id
        self.settings = settings or DeliverySettings()
        self.wakeup = wakeup or Wakeup()
        self._stop = threading.Event()
        self._busy: set[tuple[str, str]] = set()
        self._busy_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        # One supervised part per thread (sync.central.supervision): a thread that dies
        # or stops turning makes the worker fail fast, like its ingest would.
        self.parts = [Part(f"delivery-{n}") for n in range(self.settings.threads)]
        self._scan_lock = threading.Lock()
        self._found: list[tuple[Subscription, str, str]] = []
        self._scanned_at = -1e9
        self._scan_generation = -1
        self.postgres = db_url.startswith(("postgres://", "postgresql://"))

    def start(self) -> None:
        db = CentralDb(self.db_url)
        try:
            db.create_schema()
        finally:
            db.close()
        for part in self.parts:
            thread = threading.Thread(target=self._run, args=(part,), name=part.name, daemon=True)
            part.thread = thread
            thread.start()
            self._threads.append(thread)
        if self.postgres:
            listener = threading.Thread(target=self._listen, name="delivery-listen", daemon=True)
            listener.start()
            self._threads.append(listener)

    def stop(self) -> None:
        self._stop.set()
        self.wakeup.signal()
        for thread in self._threads:
            thread.join(timeout=self.settings.timeout_seconds + 5)

    def dead(self) -> str | None:
        """A sentence naming a thread that stopped unasked (for `edge-central deliver`)."""
        for part in self.parts:
            if not self._stop.is_set() and part.thread and not part.thread.is_alive():
                return f"the {part.name} thread stopped"
        return None

    def _run(self, part: Part) -> None:
        db: CentralDb | None = None
        client = httpx.Client(timeout=self.settings.timeout_seconds, follow_redirects=False)
        try:
            while not self._stop.is_set():
                part.beat()
                seen = self.wakeup.generation
                try:
                    if db is None:
                        db = _open_for_cursors(self.db_url)
                        part.ready.set()
                    if self._round(db, client):
                        continue
                except Exception as exc:
                    # A lost database connection: nothing moved that was not committed.
                    log.exception("delivery round failed; reconnecting")
                    part.unready(f"database: {exc}"[:200])
                    close_quietly(db)
                    db = None
                    self._stop.wait(1.0)
                    continue
                self.wakeup.wait(seen, self.settings.poll_seconds)
        finally:
            client.close()
            close_quietly(db)

    def _round(self, db: CentralDb, client: httpx.Client) -> bool:
        """Take one (subscription, device) with work and deliver; False if none."""
        work = self._claim(db)
        if work is None:
            return False
        try:
            if self._deliver(db, client, work):
                self.wakeup.signal()  # its slice is over, not its work: scan again
            db.execute(
                "UPDATE delivery_cursors SET lease_owner = NULL, lease_until = NULL"
                " WHERE subscription_id = %s AND source = %s AND lease_owner = %s",
                [work.sub.id, work.source, self.worker_id],
            )
        finally:
            # Released or not (a broken connection), the lease runs out or this worker
            # id takes it back on its next round.
            with self._busy_lock:
                self._busy.discard((work.sub.id, work.source))
        return True

    def _claim(self, db: CentralDb) -> _Work | None:
        with self._scan_lock:
            if not self._found:
                # Nothing committed since the last scan and not yet time to poll: the
                # answer would be the same (idle threads all wake at every poll).
                since = time.monotonic() - self._scanned_at
                if self.wakeup.generation == self._scan_generation and (
                    since < self.settings.poll_seconds
                ):
                    return None
                if since < self.settings.min_scan_seconds:
                    time.sleep(self.settings.min_scan_seconds - since)
                self._scan_generation = self.wakeup.generation
                self._found = self._scan(db)
                self._scanned_at = time.monotonic()
            while self._found:
                sub, source, store_id = self._found.pop()
                key = (sub.id, source)
                with self._busy_lock:
                    if key in self._busy:
                        continue
                    self._busy.add(key)
                work = self._lease(db, sub, source, store_id, iso_now())
                if work is not None:
                    return work
                with self._busy_lock:
                    self._busy.discard(key)
        return None

    def _scan(self, db: CentralDb) -> list[tuple[Subscription, str, str]]:
        """(subscription, device) pairs with events to deliver and nobody on them."""
        subs = {s.id: s for s in list_subscriptions(db, active_only=True)}
        if not subs:
            return []
        now = iso_now()
        found = db.execute(
            "SELECT sub.id, s.source, s.store_id FROM subscriptions sub CROSS JOIN sources s"
            " LEFT JOIN delivery_cursors c ON c.subscription_id = sub.id AND c.source = s.source"
            " WHERE sub.state = 'active' AND s.contiguous_seq > COALESCE(c.delivered_seq, 0)"
            " AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= %s)"
            " AND (c.lease_until IS NULL OR c.lease_until < %s OR c.lease_owner = %s)"
            # Least recently served first (never served before all): with more pairs
            # waiting than one scan takes, none waits behind the others for ever.
            " ORDER BY COALESCE(c.updated_at, '') LIMIT %s",
            [now, now, self.worker_id, SCAN_LIMIT],
        ).fetchall()
        found.reverse()  # taken from the end: the longest waiting first
        # Workers scanning together start on different pairs of the longest waiting.
        head = found[-16:]
        random.shuffle(head)
        found[-16:] = head
        return [(subs[i], source, store) for i, source, store in found if i in subs]

    def _lease(
        self, db: CentralDb, sub: Subscription, source: str, store_id: str, now: str
    ) -> _Work | None:
        db.execute(
            "INSERT INTO delivery_cursors (subscription_id, source, delivered_seq,"
            " delivered_count, failure_count, attempts, updated_at)"
            " VALUES (%s, %s, 0, 0, 0, 0, %s) ON CONFLICT (subscription_id, source) DO NOTHING",
            [sub.id, source, now],
        )
        taken = db.execute(
            "UPDATE delivery_cursors SET lease_owner = %s, lease_until = %s"
            " WHERE subscription_id = %s AND source = %s"
            " AND (lease_until IS NULL OR lease_until < %s OR lease_owner = %s)"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= %s)",
            [self.worker_id, self._lease_end(), sub.id, source, now, self.worker_id, now],
        ).rowcount
        if not taken:
            return None
        cursor, attempts = db.execute(
            "SELECT delivered_seq, attempts FROM delivery_cursors"
            " WHERE subscription_id = %s AND source = %s",
            [sub.id, source],
        ).fetchone()
        return _Work(sub, source, store_id, int(cursor), int(attempts))

    def _deliver(self, db: CentralDb, client: httpx.Client, work: _Work) -> bool:
        """Send the device's events until caught up, failing or out of time; True if
        only the time ran out."""
        sub = work.sub
        deadline = time.monotonic() + self.settings.slice_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            (contiguous,) = db.execute(
                "SELECT contiguous_seq FROM sources WHERE source = %s", [work.source]
            ).fetchone()
            if work.cursor >= contiguous:
                return False
            # A store's device: all its events are that store's. The centre's own source
            # (integrity alarms, store id '') is filtered event by event below.
            if work.store_id and not sub.wants_store(work.store_id):
                self._advance(db, work, contiguous, sent=0)
                return False
            rows = db.execute(
                "SELECT event_id, seq, type, envelope, store_id FROM events WHERE source = %s"
                " AND seq > %s AND seq <= %s ORDER BY seq LIMIT %s",
                [work.source, work.cursor, contiguous, self.settings.page_size],
            ).fetchall()
            if not rows:
                return False
            chunk: list[StoredEvent] = []
            for event_id, seq, event_type, envelope, store_id in rows:
                if sub.wants_type(event_type) and sub.wants_store(store_id):
                    chunk.append(StoredEvent(event_id, int(seq), event_type, envelope))
                if len(chunk) >= sub.batch_max:
                    if not self._send(db, client, work, chunk):
                        return False
                    chunk = []
            if chunk and not self._send(db, client, work, chunk):
                return False
            # Past the events the filter skipped at the end of the page too.
            last = int(rows[-1][1])
            if work.cursor < last and not self._advance(db, work, last, sent=0):
                return False
        return not self._stop.is_set()

    def _send(
        self, db: CentralDb, client: httpx.Client, work: _Work, events: list[StoredEvent]
    ) -> bool:
        """Send `events` (one request); True if the device may go on."""
        status, answer = self._post(client, work.sub, events)
        outcome = Outcome.RETRY if status is None else classify(status)
        if outcome is Outcome.DELIVERED:
            return self._advance(db, work, events[-1].seq, sent=len(events))
        if outcome is Outcome.NEVER and len(events) > 1:
            # The batch as a whole was refused: find the event it was about, one by one.
            return all(self._send(db, client, work, [event]) for event in events)
        if outcome is Outcome.NEVER:
            return self._dead_letter(db, work, events[0], int(status or 0), answer)
        self._back_off(db, work, answer)
        return False

    def _post(
        self, client: httpx.Client, sub: Subscription, events: list[StoredEvent]
    ) -> tuple[int | None, str]:
        request = build_request(sub, events, batch=sub.batch_max > 1)
        try:
            with client.stream(
                "POST", sub.url, content=request.body, headers=request.headers
            ) as response:
                kept = b""
                for part in response.iter_bytes():
                    kept += part
                    if len(kept) >= RESPONSE_KEEP_BYTES:
                        break
                text = kept[:RESPONSE_KEEP_BYTES].decode("utf-8", "replace")
                return response.status_code, f"HTTP {response.status_code}: {text}"
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:RESPONSE_KEEP_BYTES]

    def _advance(self, db: CentralDb, work: _Work, seq: int, sent: int) -> bool:
        now = iso_now()
        moved = db.execute(
            "UPDATE delivery_cursors SET delivered_seq = %s,"
            " delivered_count = delivered_count + %s, attempts = 0, next_attempt_at = NULL,"
            " last_error = NULL, last_delivered_at = CASE WHEN %s > 0 THEN %s"
            " ELSE last_delivered_at END, lease_until = %s, updated_at = %s"
            " WHERE subscription_id = %s AND source = %s AND lease_owner = %s",
            [seq, sent, sent, now, self._lease_end(), now, work.sub.id, work.source,
             self.worker_id],
        ).rowcount  # fmt: skip
        if not moved:
            # The lease ran out and another worker has the device now: stop here.
            log.warning("lost the lease on %s for %s", work.source, work.sub.id)
            return False
        work.cursor, work.attempts = seq, 0
        return True

    def _dead_letter(
        self, db: CentralDb, work: _Work, event: StoredEvent, status: int, answer: str
    ) -> bool:
        log.warning(
            "%s refused event %s (%s) for good: %s", work.sub.id, event.event_id, status, answer
        )
        with db.transaction():
            db.execute(
                "INSERT INTO delivery_dead_letters (subscription_id, event_id, source, seq,"
                " type, status, response, failed_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (subscription_id, event_id) DO UPDATE SET status ="
                " excluded.status, response = excluded.response, failed_at = excluded.failed_at",
                [work.sub.id, event.event_id, work.source, event.seq, event.type, status,
                 answer, iso_now()],
            )  # fmt: skip
            return self._advance(db, work, event.seq, sent=0)

    def _back_off(self, db: CentralDb, work: _Work, answer: str) -> None:
        attempts = work.attempts + 1
        delay = min(
            self.settings.retry_max_seconds,
            self.settings.retry_base_seconds * 2 ** min(attempts - 1, 30),
        )
        delay = random.uniform(delay / 2, delay)
        log.info("%s: %s failed (%s); retry in %.1fs", work.sub.id, work.source, answer, delay)
        db.execute(
            "UPDATE delivery_cursors SET attempts = %s, failure_count = failure_count + 1,"
            " next_attempt_at = %s, last_error = %s, updated_at = %s"
            " WHERE subscription_id = %s AND source = %s AND lease_owner = %s",
            [attempts, _in(delay), answer, iso_now(), work.sub.id, work.source, self.worker_id],
        )

    def _lease_end(self) -> str:
        return _in(self.settings.lease_seconds)

    def _listen(self) -> None:
        """PostgreSQL: wake the threads when any worker's ingest commits events."""
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db_url, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wakeup.signal()
            except psycopg.Error as exc:
                log.warning("delivery: LISTEN failed (%s); polling meanwhile", exc)
                self._stop.wait(1.0)


def notify_committed(db: CentralDb, wakeup: Callable[[], None] | None) -> None:
    """After an ingest commit with new events: wake this process's delivery threads
    and, on PostgreSQL, every other worker's."""
    if wakeup is not None:
        wakeup()
    if db.postgres:
        try:
            db.execute(f"NOTIFY {NOTIFY_CHANNEL}")
        except Exception as exc:  # the others still poll
            log.debug("NOTIFY failed: %s", exc)


def _open_for_cursors(url: str) -> CentralDb:
    """A connection whose commits need not wait for the disk. It writes only cursors and
    dead letters: a power cut at the centre can take back the last few moves of a
    cursor, which re-sends those events (at least once still holds) but loses none,
    while every delivery no longer waits for an fsync."""
    db = CentralDb(url)
    db.execute("SET synchronous_commit = off" if db.postgres else "PRAGMA synchronous = NORMAL")
    return db


def _in(seconds: float) -> str:
    return to_iso(datetime.now(UTC) + timedelta(seconds=seconds))
