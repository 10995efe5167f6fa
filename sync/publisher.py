"""Drains the outbox to the broker in store order; a row leaves only on the centre's ack.

A PUBACK means only that the broker took the message (Mosquitto writes to disk every
half hour by default, and paho keeps its session in memory), so it is flow control and
nothing more. A row is marked acknowledged when the centre says it committed the event;
until then the row stays and is sent again if its ack is late, and the centre drops
the repeat by event id. Every method runs on the sync worker thread.

Resending is adaptive, because after an outage the whole fleet is doing it at once:
each send has its own jittered deadline, only the events whose deadline passed go
again, the deadline doubles while nothing is acknowledged, and a reconnect sends again
only what the broker had not taken (what it took is waited for: its ack may be queued
in the session). So stores that sent at the same instant do not resend at the same
instant, and a centre restart is not answered by every store resending its window.

Events go out in batches (sync.protocol.batches) and come back acknowledged by runs of sequence
numbers (sync.protocol.acks), so a backlog drains at the speed of the data, not of one broker
round trip per event. A batch the broker refuses is split and its events are sent one
by one, so the one it refuses is found, counted and eventually parked.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from sqlite_utils import Database

from edge_agent import outbox
from edge_agent.store import Store
from sync.backoff import Backoff
from sync.errors import MessageTooLarge, SyncError
from sync.protocol.acks import AckMessage
from sync.protocol.batches import MAX_BATCH_EVENTS, build_batches
from sync.protocol.clock import to_iso

log = logging.getLogger(__name__)

# Events sent but not yet acknowledged by the centre: enough to keep the centre busy
# across its round trip (commit, fsync, ack) at tens of thousands of events a second.
DEFAULT_WINDOW = 20000
# Batches handed to the client and not yet PUBACKed by the broker. Only these sit in
# front of a status message or a replay request on the connection, so few: a
# heartbeat waits behind at most this many batches (MAX_BATCH_BYTES each), however
# large the backlog and the window.
MAX_BATCHES_AWAITING_PUBACK = 8
# Waiting this long for the centre's ack means it (or the broker) lost the events:
# send the window again. Doubles while nothing is acknowledged, up to the cap, so an
# absent centre is not flooded.
ACK_TIMEOUT_SECONDS = 10.0
ACK_TIMEOUT_CAP_SECONDS = 120.0
# Each send waits between 1 and 1 + this fraction of the timeout for its ack: stores
# that sent together (a fleet reconnect) time out, and resend, spread over that span.
ACK_TIMEOUT_JITTER = 0.5
# Until the first ack on a connection, sends wait this many timeouts (60-90 s by
# default). Just (re)connected, a store cannot tell a lost batch from one queued behind
# the whole fleet's, which is the case after a broker restart or a network outage: then
# every store reconnects with a backlog at once, and 10 s is shorter than the centre
# needs to drain 5,000 stores x 100 events (half the stores acked after 32-54 s on the
# 2-core bench machine), so most stores would resend their whole backlog into the queue
# they are waiting in. The first ack says the centre is through the queue up to this
# store: from then on the plain timeout applies.
# Size it to the centre's drain time for a whole-fleet reconnect (bench_fleet).
FIRST_ACK_TIMEOUT_FACTOR = 6.0
# After this many refusals by the broker (too large, not authorised) an event sent on
# its own is parked with the reason so it stops blocking the events behind it.
MAX_REFUSALS = 3
# Acknowledged rows are kept a day for inspection, then pruned.
ACKED_RETENTION = timedelta(days=1)


class OutboxPublisher:
    def __init__(
        self,
        store: Store,
        publish: Callable[[bytes], int],
        clock: Callable[[], datetime],
        source: str,
        window: int = DEFAULT_WINDOW,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
        first_ack_timeout: float | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._monotonic = monotonic
        self._publish = publish
        self._clock = clock
        self._source = source
        self._sources = frozenset({source})  # whose sequence numbers are ours (restart)
        self._window = window
        self._cursor = 0  # highest seq handed to the broker on this connection
        # seq -> when its ack is due (monotonic); sent and not yet acknowledged
        self._sent: dict[int, float] = {}
        self._next_due = float("inf")  # no deadline in _sent is earlier than this
        self._mids: dict[int, tuple[int, ...]] = {}  # MQTT message id -> seqs it carries
        self._taken: set[int] = set()  # seqs the broker PUBACKed on this connection
        self._alone: set[int] = set()  # seqs to send one per message (a batch was refused)
        self._ack_wait = Backoff(ack_timeout, ACK_TIMEOUT_CAP_SECONDS, ACK_TIMEOUT_JITTER, rng)
        if first_ack_timeout is None:
            first_ack_timeout = ack_timeout * FIRST_ACK_TIMEOUT_FACTOR
        self._first_ack_timeout = first_ack_timeout
        self.acked_total = 0
        self.resent_total = 0  # events sent again because their ack was late
        # The message the broker had not acknowledged when it last dropped the
        # connection (its first seq), and how many drops in a row it was that one.
        self._suspect: tuple[int, int] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._sent)

    @property
    def awaiting_broker(self) -> int:
        """Messages handed to the client that the broker has not PUBACKed yet."""
        return len(self._mids)

    def restart(self) -> None:
        """After a (re)connect: send again what the broker had not taken, then go on in
        order. What it took waits for its ack until a fresh (jittered) deadline: the
        centre may have committed it, or it may be queued behind the fleet's backlog.
        Until the first ack, deadlines are FIRST_ACK_TIMEOUT_FACTOR timeouts away."""
        self._ack_wait.at_least(self._first_ack_timeout)  # until the connection's first ack
        unconfirmed = {seq for seqs in self._mids.values() for seq in seqs}
        self._mids.clear()
        self._taken.clear()
        for seq in unconfirmed:
            self._sent.pop(seq, None)
        due = self._monotonic() + self._ack_wait.delay()
        for seq, deadline in self._sent.items():
            self._sent[seq] = max(deadline, due)
        self._next_due = min(self._sent.values(), default=float("inf"))
        # Every row from the lowest not in flight on: fill() skips those in flight.
        self._cursor = min(unconfirmed, default=self._cursor + 1) - 1
        self._sources = self._own_sources()

    def fill(self) -> int:
        """Publish the next events up to the window; returns how many were sent."""
        room = self._window - len(self._sent)
        if room <= 0 or len(self._mids) >= MAX_BATCHES_AWAITING_PUBACK:
            return 0
        # No more rows than the batches the broker may be sent now can hold.
        batches_free = MAX_BATCHES_AWAITING_PUBACK - len(self._mids)
        rows = outbox.unsent_events(
            self._store.db, self._cursor, min(room, batches_free * MAX_BATCH_EVENTS)
        )
        if not rows:
            return 0
        # After a split the cursor went back: skip what is still in flight.
        batches = build_batches((row for row in rows if row[0] not in self._sent), self._alone)
        due = self._monotonic() + self._ack_wait.delay()
        sent = 0
        for batch in batches:
            if len(self._mids) >= MAX_BATCHES_AWAITING_PUBACK:
                return sent  # the cursor stays at the last batch handed over
            try:
                mid = self._publish(batch.payload)
            except MessageTooLarge as exc:
                # Over the size the broker announced: a batch goes again one event per
                # message, a single event can never go and is parked.
                self._too_large(batch.seqs, f"the broker refuses it: {exc.message}")
                return sent
            except SyncError as exc:
                log.debug("publish paused: %s", exc)
                return sent
            for seq in batch.seqs:
                self._sent[seq] = due
            self._next_due = min(self._next_due, due)
            self._mids[mid] = batch.seqs
            self._cursor = batch.seqs[-1]
            sent += len(batch.seqs)
        self._cursor = max(self._cursor, rows[-1][0])
        return sent

    def on_ack(self, ack: AckMessage) -> int:
        """The centre committed these events: mark them; park the ones it refused."""
        at = to_iso(self._clock())
        marked = 0
        with self._store.transaction() as db:
            for source, first, last in ack.ranges:
                if source not in self._sources:
                    continue  # another device of this store: its numbers, not ours
                marked += outbox.mark_acked(db, first, last, at)
                self._forget(first, last)
            if ack.ids and self._sent:
                marked += self._mark_by_id(db, list(ack.ids), at)
            for rejection in ack.rejected:
                self._park_rejected(db, rejection.event_id, rejection.seq, rejection.reason)
        if ack.rejected:
            log.error("the centre refused %d event(s); they are parked", len(ack.rejected))
        if marked:
            self._ack_wait.reset()
            self.acked_total += marked
        if len(self._taken) > len(self._sent):
            self._taken.intersection_update(self._sent)
        return marked

    def answers_current_send(self, ack: AckMessage) -> bool:
        """Whether `ack` acknowledges events the broker took from us on this connection
        and still awaiting the centre. Only such an ack was written after our send reached
        the centre, so only its commit time is a clock reading: an ack the broker kept in
        our session while we were away (it replays them first thing on a reconnect) or
        one for an earlier send is late, and would read as clock skew. Call it before
        `on_ack`."""
        for source, first, last in ack.ranges:
            if source not in self._sources:
                continue
            if last - first < len(self._taken):
                candidates: Iterable[int] = range(first, last + 1)
            else:
                candidates = (seq for seq in self._taken if first <= seq <= last)
            if any(seq in self._taken and seq in self._sent for seq in candidates):
                return True
        return False

    def on_disconnected(self) -> None:
        """The broker dropped the connection. Mosquitto does that, instead of refusing
        one message, for a packet over its size limit when it did not announce the
        limit: the message it choked on is the first one it had not acknowledged. A batch
        there is split at once (it costs only a few messages more; each reconnect waits
        longer). One event there on MAX_REFUSALS drops in a row is parked, so it stops
        taking the connection, and everything behind it, down."""
        waiting = [seqs for seqs in self._mids.values() if seqs[0] in self._sent]
        if not waiting:
            return
        seqs = min(waiting)
        if len(seqs) > 1:
            log.warning(
                "the broker dropped the connection on a batch of %d; splitting it", len(seqs)
            )
            self._split(seqs)
            return
        drops = self._suspect[1] + 1 if self._suspect and self._suspect[0] == seqs[0] else 1
        self._suspect = (seqs[0], drops)
        if drops >= MAX_REFUSALS:
            self._too_large(
                seqs,
                f"the broker closed the connection each time it got this event ({drops}"
                " times in a row); probably over its message size limit",
            )
            self._suspect = None

    def on_published(self, mid: int, refusal: str | None) -> None:
        """The broker's PUBACK: flow control only, except a refusal is counted."""
        seqs = self._mids.pop(mid, None)
        if seqs is not None and self._suspect and self._suspect[0] == seqs[0]:
            self._suspect = None  # it went through after all
        if seqs is not None and refusal is None:
            self._taken.update(seqs)
        if seqs is None or refusal is None:
            return
        if len(seqs) > 1:
            # Which event the broker objects to (size, ACL) is unknown: send each alone,
            # so only the guilty one is counted and parked, the others go through.
            log.warning("the broker refused a batch of %d (%s); splitting it", len(seqs), refusal)
            self._split(seqs)
            return
        seq = seqs[0]
        with self._store.transaction() as db:
            parked = outbox.count_refusal(db, seq, refusal, MAX_REFUSALS)
        if parked is not None:
            self._sent.pop(seq, None)
            self._alone.discard(seq)
            log.error("event %s parked: the broker refuses it (%s)", parked, refusal)

    def check_ack_timeout(self) -> bool:
        """Send again the events whose ack is overdue (only those); True if any were."""
        now = self._monotonic()
        if now < self._next_due:
            return False
        overdue = [seq for seq, deadline in self._sent.items() if deadline <= now]
        for seq in overdue:
            del self._sent[seq]
        self._next_due = min(self._sent.values(), default=float("inf"))
        if not overdue:
            return False
        log.warning(
            "no ack from the centre within %.0fs; sending %d event(s) again from seq %d",
            self._ack_wait.step,
            len(overdue),
            min(overdue),
        )
        # fill() goes back to the lowest and skips what is still in flight.
        self._cursor = min(self._cursor, min(overdue) - 1)
        self.resent_total += len(overdue)
        self._ack_wait.grow()
        return True

    def prune(self) -> int:
        cutoff = to_iso(self._clock() - ACKED_RETENTION)
        with self._store.transaction() as db:
            return outbox.prune_acked(db, cutoff)

    def _too_large(self, seqs: tuple[int, ...], reason: str) -> None:
        if len(seqs) > 1:
            log.warning("a batch of %d is too large for the broker; splitting it", len(seqs))
            self._split(seqs)
            return
        with self._store.transaction() as db:
            outbox.park(db, seqs[0], reason)
        self._sent.pop(seqs[0], None)
        self._alone.discard(seqs[0])
        self._cursor = max(self._cursor, seqs[0])
        log.error("event seq %d parked: %s", seqs[0], reason)

    def _split(self, seqs: tuple[int, ...]) -> None:
        """Send these events again, one per message."""
        self._alone.update(seqs)
        for seq in seqs:
            self._sent.pop(seq, None)
        self._cursor = min(self._cursor, seqs[0] - 1)

    def _forget(self, first: int, last: int) -> None:
        if last - first < len(self._sent):
            for seq in range(first, last + 1):
                self._sent.pop(seq, None)
                self._alone.discard(seq)
        else:
            for seq in [s for s in self._sent if first <= s <= last]:
                del self._sent[seq]
                self._alone.discard(seq)

    def _mark_by_id(self, db: Database, ids: list[str], at: str) -> int:
        """Acks by event id (the one-event-per-message form): only ours in flight can
        match, so the look-up stays within the in-flight seqs."""
        marked = outbox.mark_acked_by_id(db, ids, min(self._sent), max(self._sent), at)
        for seq in marked:
            self._sent.pop(seq, None)
        return len(marked)

    def _park_rejected(self, db: Database, event_id: str, seq: int | None, reason: str) -> None:
        if seq is None and not self._sent:
            return
        in_flight = (min(self._sent), max(self._sent)) if self._sent else (0, 0)
        for parked in outbox.park_rejected(db, event_id, reason, seq, in_flight):
            self._sent.pop(parked, None)
            self._alone.discard(parked)

    def _own_sources(self) -> frozenset[str]:
        """This device's event source, and any other still waiting in the outbox (the
        device was renamed): ranges for those sources are ours too."""
        return frozenset({self._source, *outbox.pending_sources(self._store.db)})
