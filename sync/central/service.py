"""An `edge-central` worker: consumes store events through the shared subscription,
commits them, then acks; answers replay requests; records fleet status.

paho delivers on its network thread; one worker thread owns the database connection
and takes messages off a queue in batches, so one commit covers many events. Each
thread is a part (sync.central.supervision): the worker is ready only when all run,
and stops (sync.central.worker) as soon as one dies.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sync.central import partitions
from sync.central.changes import REPLAY_BATCH_MAX, answer_replays, record_change
from sync.central.db import CentralDb, close_quietly
from sync.central.delivery.worker import DeliverySettings, DeliveryWorker, notify_committed
from sync.central.errors import CentralError
from sync.central.fleet import read_status, record_statuses
from sync.central.ingest import ingest_batch
from sync.central.lookups import LookupResponder
from sync.central.metrics import CentreMetrics, IngestCounters
from sync.central.schema import migrate
from sync.central.stock_flusher import STOCK_FLUSH_SECONDS, StockFlusher
from sync.central.supervision import Part, Parts
from sync.errors import SyncError
from sync.link import BrokerSettings, Message, MqttLink
from sync.protocol.envelope import STRUCTURED_CONTENT_TYPE
from sync.protocol.topics import (
    StoreTopics,
    central_retained_fetch,
    central_subscriptions,
    store_id_from_topic,
)

log = logging.getLogger(__name__)

# A worker's session outlives a crash for this long, so a restarted worker (same
# --worker-id) picks up what the broker kept for it. Not longer: the broker keeps
# dealing a share of the shared subscription to a dead worker's session until it
# expires (the stores resend those events once their ack times out).
WORKER_SESSION_EXPIRY_SECONDS = 120
# One transaction per batch: big enough to amortise the commit's fsync, small enough
# that acks flow back while a store is still draining.
BATCH_MAX = 500
# Also bounded by bytes, now that a message may carry a batch of events. A commit
# rewrites every index page it touched, and event ids are random, so more events per
# commit cost fewer page writes each (512 KiB: 38 k ev/s drained, 4 MiB: 45 k, with
# SQLite); 4 MiB is ~12 k small events, a fraction of a second's work, so acks still
# flow back while a store drains.
BATCH_MAX_BYTES = 4 * 1024 * 1024
BATCH_WAIT_SECONDS = 0.05
# After the first message, wait this long for more: the network thread delivers a
# stream one message at a time, and a batch of one would cost a commit per event.
BATCH_LINGER_SECONDS = 0.002
# Flow control: the broker hands a worker at most this many messages (MQTT 5 Receive
# Maximum) before the worker acknowledges them, and it acknowledges a message only once
# the batch holding it is handled (committed, acked to its store). So a fleet-wide
# reconnect waits in the broker's queue (sized for it: systemd/mosquitto-edge-central.conf)
# instead of in this process. 256 is four 4 MiB commits of 64 KiB store batches: the
# next batch is already here while one commits.
RECEIVE_MAXIMUM = 256
# The intake queue's bound. A broker that keeps to Receive Maximum never fills it;
# Mosquitto 2.0.11 does not (after the first acknowledgement it sends up to a whole
# window more per acknowledgement). Then paho's network thread waits here, stops reading
# the socket, and TCP holds the rest in the broker: memory stays bounded either way.
INTAKE_MAX_MESSAGES = 2 * RECEIVE_MAXIMUM
INTAKE_POLL_SECONDS = 0.5
# Acks and replay answers go out at QoS 0: they answer a store that asks again if one is
# lost (it resends, the centre drops the repeat by event id and acks again; it asks for
# the replay again), so the broker keeps no copy of them in an absent store's session to
# hand over, late, when it returns, and the worker keeps none awaiting a PUBACK. Those
# copies cost twice in a fleet-wide reconnect: paho reads as many incoming packets per
# turn as it has outgoing ones unacknowledged, so thousands of acks awaiting PUBACKs
# (which come back behind the burst) starved the worker's own writes, acks included,
# until the broker dropped it for silence (5,000 stores: both workers dropped 3-5 times
# each, every drop losing the acks of the batch in hand).
ANSWER_QOS = 0

# While no batch comes, the ingest thread checks its connection this often, so a
# database that went away shows in /healthz before the next burst finds it.
IDLE_PROBE_SECONDS = 5.0
# Between attempts to reach a database that is down.
RECONNECT_SECONDS = 1.0


class CentralService:
    """One worker. Several may run against the same broker and database."""

    def __init__(
        self,
        broker_url: str,
        db_url: str,
        topic_prefix: str = "retail/v1",
        worker_id: str | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        delivery: DeliverySettings | None = None,
        stock_flush_seconds: float = STOCK_FLUSH_SECONDS,
    ) -> None:
        self.prefix = topic_prefix
        self.db_url = db_url
        self.counters = IngestCounters()
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=INTAKE_MAX_MESSAGES)
        self._stop = threading.Event()
        self._subscriptions = central_subscriptions(topic_prefix)
        # Before anything subscribes: fails at start, with a clear message, if the
        # database is unreachable or newer than this centre; else it is current.
        migrate(db_url)
        self.link = MqttLink(
            BrokerSettings(
                url=broker_url,
                client_id=f"edge-central-{worker_id or uuid.uuid4().hex[:8]}",
                ca_file=ca_file,
                cert_file=cert_file,
                key_file=key_file,
                max_inflight=1000,
                session_expiry_seconds=WORKER_SESSION_EXPIRY_SECONDS,
                receive_maximum=RECEIVE_MAXIMUM,
            ),
            subscriptions=[(topic, 1) for topic in self._subscriptions.values()],
            on_message=self._on_message,
            # Every device's last status, when the broker starts a session for us.
            fetch_retained=[(topic, 1) for topic in central_retained_fetch(topic_prefix)],
        )
        self.lookups = LookupResponder(db_url, topic_prefix, self._publish_reply)
        self.stock_flusher = StockFlusher(db_url, self._send_change, stock_flush_seconds)
        # Delivery to the retailer's platforms, woken by this worker's commits.
        self.delivery = (
            None
            if delivery is None or delivery.threads < 1
            else DeliveryWorker(db_url, worker_id or self.link.settings.client_id, delivery)
        )
        self._thread = threading.Thread(target=self._run, name="central-ingest", daemon=True)
        self.ingest = Part("ingest")
        broker = Part("broker", beats=False)
        broker.ready = self.link.connected  # ready while connected
        self.parts = Parts(
            self.ingest,
            self.lookups.part,
            self.stock_flusher.part,
            broker,
            *(self.delivery.parts if self.delivery is not None else ()),
        )
        self.metrics = CentreMetrics(
            self.counters, lambda: vars(self.lookups.counters), self._queue.qsize, self.parts
        )

    @property
    def ready(self) -> threading.Event:
        """Set once the ingest thread has its database connection."""
        return self.ingest.ready

    def start(self) -> None:
        self._thread.start()
        self.parts.watch("ingest", self._thread)
        self.ingest.ready.wait(timeout=30)
        self.lookups.start()
        self.parts.watch("lookups", self.lookups.thread)
        self.stock_flusher.start()
        self.parts.watch("stock", self.stock_flusher.thread)
        if self.delivery is not None:
            self.delivery.start()  # its threads are its parts'
        self.link.start()
        self.parts.watch("broker", _network_thread(self.link.settings.client_id))

    def stop(self) -> None:
        self.parts.stopping = True
        self._stop.set()
        self._thread.join(timeout=10)
        self.lookups.stop()
        self.stock_flusher.stop()
        if self.delivery is not None:
            self.delivery.stop()
        # Stopped on purpose: end the session so the broker deals its share to the others.
        self.link.stop(end_session=True)

    def abort(self) -> None:
        """A part died: leave the shared subscription now, without waiting for the rest
        (nothing uncommitted was acked; the stores send it again to the other workers)."""
        self.parts.stopping = True
        self._stop.set()
        try:
            self.link.stop(end_session=True)
        except Exception:
            # With paho's network thread dead, paho writes from the calling thread and
            # runs its callbacks there: the fault that killed it can strike again here.
            # The worker exits all the same; the broker ends its session by expiry.
            log.exception("leaving the broker cleanly failed; exiting anyway")

    def push_change(self, store_id: str, change_type: str, data: dict) -> None:
        """Record a change for a store and send it (it is replayed if the store missed it)."""
        db = CentralDb(self.db_url)
        try:
            payload = record_change(db, store_id, change_type, data)
        finally:
            db.close()
        self._send_change(store_id, payload)

    def _send_change(self, store_id: str, payload: bytes) -> None:
        try:
            self.link.publish(
                StoreTopics(self.prefix, store_id).changes,
                payload,
                content_type=STRUCTURED_CONTENT_TYPE,
            )
        except SyncError as exc:
            log.info("change for %s stored; it goes out on the store's replay (%s)", store_id, exc)

    def _on_message(self, message: Message) -> None:
        # Look-ups have their own thread: a till waits on each, events can wait a batch.
        if message.topic.endswith("/lookups"):
            self.lookups.submit(message)
            self.link.ack(message)  # answered at most once: a late answer is worthless
            return
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=INTAKE_POLL_SECONDS)
                return
            except queue.Full:
                continue  # the broker overran our Receive Maximum: wait for the worker

    def _publish_reply(self, topic: str, payload: bytes, correlation: bytes | None) -> None:
        try:
            # QoS 0: a reply is useful only within the store's deadline; a lost one is a
            # late one, which the store already handles.
            self.link.publish(topic, payload, qos=0, correlation_data=correlation)
        except SyncError as exc:
            log.info("look-up answer not sent (%s); the store's deadline covers it", exc)

    def _run(self) -> None:
        db = CentralDb(self.db_url)
        partitions.maintain(db, datetime.now(UTC))
        maintained = time.monotonic()
        self.ingest.ready.set()
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                self.ingest.beat()
                batch = self._next_batch()
                try:
                    if batch:
                        self._handle(db, batch)
                        idle_since = time.monotonic()
                    elif time.monotonic() - idle_since > IDLE_PROBE_SECONDS:
                        db.execute("SELECT 1")
                        idle_since = time.monotonic()
                    if time.monotonic() - maintained > partitions.MAINTAIN_SECONDS:
                        partitions.maintain(db, datetime.now(UTC))
                        maintained = time.monotonic()
                except Exception:
                    # Nothing was acked for this batch: the stores send it again.
                    log.exception("a batch failed; reconnecting to the database")
                    db = self._reopen(db)
                finally:
                    # Handled or not (a store resends what it has no ack for), its places
                    # in the receive window go to the next messages.
                    for message in batch:
                        self.link.ack(message)
        finally:
            db.close()

    def _reopen(self, db: CentralDb) -> CentralDb:
        self.ingest.unready("reconnecting to the database")
        close_quietly(db)
        while not self._stop.is_set():
            try:
                db = CentralDb(self.db_url)
            except CentralError as exc:
                self.ingest.unready(f"database unreachable: {exc.message}")
                log.error("%s; retrying", exc.message)
                self._stop.wait(RECONNECT_SECONDS)
                continue
            self.ingest.beat()
            self.ingest.ready.set()
            break
        return db

    def _next_batch(self) -> list[Message]:
        try:
            batch = [self._queue.get(timeout=BATCH_WAIT_SECONDS)]
        except queue.Empty:
            return []
        size = len(batch[0].payload)
        while len(batch) < BATCH_MAX and size < BATCH_MAX_BYTES:
            try:
                batch.append(self._queue.get(timeout=BATCH_LINGER_SECONDS))
            except queue.Empty:
                break
            size += len(batch[-1].payload)
        return batch

    def _handle(self, db: CentralDb, batch: list[Message]) -> None:
        events = [(m.topic, m.payload) for m in batch if m.topic.endswith("/events")]
        if events:
            try:
                self._ingest(db, events)
            except Exception:
                if db.broken:
                    raise  # the connection, not an event: reconnect, the stores resend
                # One event the database refuses must not hold back the others: write
                # them one by one; the refused one stays unacked and is resent.
                log.exception("a batch of %d events failed; writing one by one", len(events))
                for event in events:
                    try:
                        self._ingest(db, [event])
                    except Exception as exc:
                        if db.broken:
                            raise
                        log.error("event on %s not stored: %s", event[0], exc)
        # Then the batch's replay requests and statuses, each kind a few queries for all
        # (a fleet-wide reconnect brings one of each per store). A failure here costs
        # nothing lasting: a store asks again for a replay it did not get, and
        # heartbeats come again.
        replays = [m for m in batch if m.topic.endswith("/resync")]
        statuses = [m for m in batch if "/status/" in m.topic]
        for part, messages in ((self._replay, replays), (self._record_statuses, statuses)):
            if not messages:
                continue
            try:
                part(db, messages)
            except Exception:
                if db.broken:
                    raise  # the ingest thread reconnects; the rest comes again
                log.exception("handling %d messages on %s failed", len(messages),
                              messages[0].topic)  # fmt: skip

    def _ingest(self, db: CentralDb, events: list[tuple[str, bytes]]) -> None:
        started = time.perf_counter()
        result = ingest_batch(db, self.prefix, events)
        self.metrics.committed(time.perf_counter() - started, result.newest, datetime.now(UTC))
        self.counters.inserted += result.inserted
        self.counters.duplicates += result.duplicates
        self.counters.unreadable += result.unreadable
        self.counters.rejected += result.rejected
        if result.inserted:
            notify_committed(db, self.delivery.wakeup.signal if self.delivery else None)
        # After the commit, never before: an ack is the store's licence to forget.
        for store_id, acks in result.acks.items():
            try:
                self.link.publish(
                    StoreTopics(self.prefix, store_id).acks, acks.payload(), qos=ANSWER_QOS
                )
                self.counters.acks_sent += 1
            except SyncError as exc:
                # Committed but not acked: the store resends, and is acked then.
                self.counters.acks_unsent += 1
                log.warning("ack to %s not sent (%s); the store will resend", store_id, exc)
        for change in result.changes:
            self._send_change(change.store_id, change.payload)

    def _replay(self, db: CentralDb, messages: list[Message]) -> None:
        requests = []
        for message in messages:
            store_id = store_id_from_topic(self.prefix, message.topic)
            try:
                request = json.loads(message.payload)
                from_seq = int(request["from_sequence"])
                limit = int(request.get("limit", REPLAY_BATCH_MAX))
            except (ValueError, KeyError, TypeError, AttributeError):
                log.warning("unreadable replay request on %s", message.topic)
                continue
            if store_id is not None and from_seq >= 1:
                requests.append((store_id, from_seq, limit))
        self.counters.replays += len(requests)
        for store_id, payloads in answer_replays(db, requests):
            topic = StoreTopics(self.prefix, store_id).changes
            try:
                for payload in payloads:
                    self.link.publish(
                        topic, payload, qos=ANSWER_QOS, content_type=STRUCTURED_CONTENT_TYPE
                    )
            except SyncError as exc:
                # The link dropped: each store asks again until its feed answers.
                log.info("replays stopped (%s); the stores ask again", exc)
                return

    def _record_statuses(self, db: CentralDb, messages: list[Message]) -> None:
        read = [
            (m.retain, read_status(store_id_from_topic(self.prefix, m.topic), m.payload))
            for m in messages
        ]
        statuses = [status for _, status in read if status is not None]
        alarms = record_statuses(db, statuses)
        self.counters.statuses += len(statuses)
        self.counters.statuses_retained += sum(
            1 for retain, status in read if retain and status is not None
        )
        if alarms:
            notify_committed(db, self.delivery.wakeup.signal if self.delivery else None)


def _network_thread(client_id: str) -> threading.Thread:
    """paho's network thread for this client (paho names it after the client id and
    offers no handle to it): the worker's part that delivers and publishes."""
    name = f"paho-mqtt-client-{client_id}"
    for thread in threading.enumerate():
        if thread.name == name:
            return thread
    raise CentralError(f"the MQTT network thread {name} did not start")
