"""The store's sync service: one worker thread that owns the outbox publisher and the
change feed, fed by the MQTT link's callbacks through a queue.

paho calls back on its network thread; everything that touches SQLite happens on the
worker thread, which has its own connection from `Store.db`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from edge_agent import __version__, clock_skew
from edge_agent.context import AgentContext
from edge_agent.feed import dead_letter, dead_letter_count, last_applied, receive_change
from edge_agent.outbox import outbox_stats, parked_count
from edge_agent.pass_keys import take_key_set
from edge_agent.revocations import apply_revocation_list
from sync.backoff import Backoff
from sync.centre_lookup import MqttCentreLookup
from sync.errors import SyncError
from sync.link import BrokerSettings, Message, MqttLink, Will
from sync.protocol.acks import AckMessage, merge_acks, parse_ack
from sync.protocol.batches import BATCH_CONTENT_TYPE
from sync.protocol.changes import Change, parse_feed_head
from sync.protocol.clock import to_iso
from sync.protocol.envelope import event_source
from sync.protocol.errors import ChangeRejected
from sync.protocol.revocations import parse_revocation_list
from sync.protocol.topics import StoreTopics, key_set_topic, revocations_topic
from sync.publisher import (
    ACK_TIMEOUT_SECONDS,
    MAX_BATCHES_AWAITING_PUBACK,
    OutboxPublisher,
)
from sync.requester import Requester
from wallet.errors import WalletError
from wallet.keyring import parse_key_set

log = logging.getLogger(__name__)

# How often the worker looks for newly committed events when nothing else wakes it:
# short enough that an event leaves within a blink, long enough to cost nothing idle.
POLL_SECONDS = 0.05
# A replay asks for this many changes at a time: fewer than Mosquitto's default
# per-client in-flight window (20), so a replay never depends on the broker's queue
# (which may be tiny and drops silently). The next batch is asked for once this one is in.
REPLAY_BATCH = 20
# Behind the centre's feed head with no progress for this long: ask again (a replayed
# batch, or the tail of the live feed, was lost on the way).
REPLAY_STALL_SECONDS = 2.0
# A replay request that got no answer at all (lost with the broker, dropped from a full
# queue, or sent while no worker was subscribed) is sent again after this, doubling up
# to the cap, jittered: a store is never left behind until the next feed check (300 s),
# and a fleet that asked together does not ask again together. The first wait is long
# enough for a fleet-wide reconnect's queue to reach the request.
RESYNC_RETRY_FIRST_SECONDS = 5.0
RESYNC_RETRY_CAP_SECONDS = 60.0
PRUNE_EVERY_SECONDS = 600.0
# paho holds back a message once this many are unacknowledged by the broker; event
# batches take at most MAX_BATCHES_AWAITING_PUBACK of them, so status, heartbeats and
# replay requests always find a free slot instead of queueing behind the backlog.
CONTROL_HEADROOM = 16
# The clock is measured on every ack but written down at most this often.
SKEW_SAVE_SECONDS = 60.0
# Bounds one round of the worker so the window is refilled between bursts of PUBACKs.
MAX_ITEMS_PER_ROUND = 5000


@dataclass(frozen=True)
class SyncStatus:
    state: str  # "offline" (no broker configured), "connected", "disconnected"
    backlog: int
    oldest_age_seconds: float | None
    parked: int
    in_flight: int
    dead_letters: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SyncService:
    """Start with `start()`; `stop()` publishes status offline and joins the worker."""

    def __init__(self, ctx: AgentContext, ack_timeout_seconds: float = ACK_TIMEOUT_SECONDS) -> None:
        settings = ctx.config.sync
        self._ctx = ctx
        self._store = ctx.store
        self._device = ctx.config.device.id
        self.topics = StoreTopics(settings.topic_prefix, ctx.config.store.id)
        self._status_topic = self.topics.status(self._device)
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._replies_topic = self.topics.lookup_replies(self._device)
        self.link = MqttLink(
            BrokerSettings(
                url=settings.broker_url,
                client_id=f"edge-{ctx.config.store.id}-{self._device}",
                ca_file=settings.ca_file,
                cert_file=settings.cert_file,
                key_file=settings.key_file,
                max_inflight=MAX_BATCHES_AWAITING_PUBACK + CONTROL_HEADROOM,
                forget_unacked_on_disconnect=True,
            ),
            subscriptions=[
                (self.topics.acks, 1),
                (self.topics.changes, 1),
                (revocations_topic(settings.topic_prefix), 1),
                (key_set_topic(settings.topic_prefix), 1),
                # QoS 0: an answer is only worth having within the till's deadline.
                (self._replies_topic, 0),
            ],
            on_message=self._on_message,
            on_connected=lambda: self._inbox.put(("connected", None)),
            on_published=lambda mid, refusal: self._inbox.put(("published", (mid, refusal))),
            will=Will(self._status_topic, self._status_payload("offline")),
            on_disconnected=lambda: self._inbox.put(("disconnected", None)),
        )
        self.publisher = OutboxPublisher(
            self._store,
            self._publish_event,
            ctx.clock,
            source=event_source(ctx.config.store.id, self._device),
            window=settings.max_in_flight,
            ack_timeout=ack_timeout_seconds,
        )
        self._revocations_topic = revocations_topic(settings.topic_prefix)
        self._key_set_topic = key_set_topic(settings.topic_prefix)
        self.requester = Requester(
            self._publish_request, self.link_up, self.topics.lookups, self._replies_topic
        )
        self.centre_lookup = MqttCentreLookup(self.requester, self._store, ctx.clock)
        self._heartbeat_seconds = settings.heartbeat_seconds
        self._feed_check_seconds = settings.feed_check_seconds
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._last_resync = -REPLAY_STALL_SECONDS
        # When to ask again if the feed has not answered the last replay request.
        self._resync_wait = Backoff(RESYNC_RETRY_FIRST_SECONDS, RESYNC_RETRY_CAP_SECONDS)
        self._resync_due: float | None = None
        self._replay_until = 0  # the last sequence the latest replay request covers
        self._feed_head = 0  # the highest feed sequence the centre has told us exists
        self._in_flight = 0
        self._next_skew_save = 0.0
        self._device_health: Callable[[], dict[str, str]] | None = None
        self._change_listeners: list[Callable[[Change], None]] = []

    def add_change_listener(self, listener: Callable[[Change], None]) -> None:
        """Call `listener` on the sync thread after each change is committed."""
        self._change_listeners.append(listener)

    def start(self) -> None:
        self.link.start()
        self._thread.start()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self.link.stop(final=(self._status_topic, self._status_payload("offline")))

    def report_devices(self, health: Callable[[], dict[str, str]]) -> None:
        """Put scanner and printer health (check name -> "ok" / "degraded: ...") in every
        heartbeat, so ops see a printer out of paper on the fleet page."""
        self._device_health = health

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def awaiting_feed(self) -> bool:
        """Whether the change feed has yet to answer the last replay request."""
        return self._resync_due is not None

    def link_up(self) -> bool:
        """Whether the centre is reachable now (the till's offline refund limit uses it)."""
        return self.link.connected.is_set()

    def _on_message(self, message: Message) -> None:
        # Look-up answers go straight to their waiting caller from paho's thread: the
        # worker may be busy with a long transaction, and the till is waiting.
        if message.topic == self._replies_topic:
            self.requester.on_reply(message)
        else:
            self._inbox.put(("message", message))

    def _publish_request(
        self, topic: str, payload: bytes, reply_to: str, correlation: bytes
    ) -> int:
        # QoS 0: a request must not queue behind a backlog of QoS 1 events in paho's
        # in-flight window; a lost one is a late answer, which the caller already handles.
        return self.link.publish(
            topic, payload, qos=0, response_topic=reply_to, correlation_data=correlation
        )

    def status(self) -> SyncStatus:
        """For /healthz, on any thread (reads through that thread's own connection)."""
        stats = outbox_stats(self._store.db)
        return SyncStatus(
            state="connected" if self.link.connected.is_set() else "disconnected",
            backlog=stats.depth,
            oldest_age_seconds=stats.oldest_age_seconds,
            parked=parked_count(self._store.db),
            in_flight=self._in_flight,
            dead_letters=dead_letter_count(self._store.db),
            last_error=self.link.last_error,
        )

    def status_dict(self) -> dict[str, Any]:
        return self.status().as_dict()

    def _run(self) -> None:
        next_heartbeat = next_prune = time.monotonic()
        next_feed_check = time.monotonic() + self._feed_check_seconds
        while not self._stop.is_set():
            try:
                self._handle_queued()
                if self.link.connected.is_set():
                    self.publisher.fill()
                    self.publisher.check_ack_timeout()
                    self._catch_up_feed()
                    if self._resync_due is not None and time.monotonic() >= self._resync_due:
                        log.info("no answer from the change feed; asking again")
                        self._resync_wait.grow()
                        self._request_resync()
                    if time.monotonic() >= next_heartbeat:
                        self._publish_status("online")
                        next_heartbeat = time.monotonic() + self._heartbeat_seconds
                    if time.monotonic() >= next_feed_check:
                        # The centre answers even when there is nothing to replay (a
                        # feed.head marker), so a lost last change shows up as a gap.
                        self._request_resync()
                        next_feed_check = time.monotonic() + self._feed_check_seconds
                if time.monotonic() >= next_prune:
                    self.publisher.prune()
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                self._in_flight = self.publisher.in_flight
            except Exception:
                # The worker must outlive a bad moment (disk busy, broker gone mid-call):
                # the outbox still holds everything, the next round picks it up.
                log.exception("sync round failed; retrying")
                self._stop.wait(1.0)

    def _handle_queued(self) -> None:
        try:
            items = [self._inbox.get(timeout=POLL_SECONDS)]
        except queue.Empty:
            return
        while len(items) < MAX_ITEMS_PER_ROUND:
            try:
                items.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        # Acks that arrived together are marked in one transaction: one fsync, not one
        # per ack message (the centre acks each of its batches separately).
        acks: list[AckMessage] = []
        for kind, value in items:
            if kind == "message" and value.topic == self.topics.acks:
                try:
                    ack = parse_ack(value.payload)
                except ValueError as exc:
                    with self._store.transaction() as db:
                        reason = f"bad ack: {exc}"
                        dead_letter(db, value.topic, value.payload, reason, self._ctx.clock())
                    continue
                acks.append(ack)
                if self.publisher.answers_current_send(ack):
                    self._note_centre_time(ack.at)
                continue
            if acks:
                self.publisher.on_ack(merge_acks(acks))
                acks = []
            self._handle(kind, value)
        if acks:
            self.publisher.on_ack(merge_acks(acks))

    def _note_centre_time(self, centre_time: datetime | None) -> None:
        """Measure the clock against the commit time the centre puts on its acks."""
        if centre_time is None or time.monotonic() < self._next_skew_save:
            return
        skew = clock_skew.measure(centre_time, self._ctx.clock())
        with self._store.transaction() as db:
            clock_skew.save(db, skew)
        self._next_skew_save = time.monotonic() + SKEW_SAVE_SECONDS
        if abs(skew.seconds) > clock_skew.WARN_SECONDS:
            log.warning("this device's clock is %+.1fs off the centre's", skew.seconds)

    def _handle(self, kind: str, value: Any) -> None:
        if kind == "connected":
            self._resync_wait.reset()
            self.publisher.restart()
            self._publish_status("online")
            self._request_resync()
        elif kind == "disconnected":
            self.publisher.on_disconnected()
        elif kind == "published":
            self.publisher.on_published(*value)
        elif kind == "message":
            self._handle_message(value)

    def _handle_message(self, message: Message) -> None:
        now = self._ctx.clock()
        if message.topic == self._revocations_topic:
            self._apply_revocations(message, now)
        elif message.topic == self._key_set_topic:
            self._apply_key_set(message, now)
        elif message.topic == self.topics.changes:
            # The feed answered (a change or a head marker): no need to ask again.
            self._resync_due = None
            self._resync_wait.reset()
            head = parse_feed_head(message.payload)
            if head is not None:
                self._feed_head = max(self._feed_head, head)
                return
            outcome = receive_change(self._store, message.topic, message.payload, now)
            if outcome.status == "dead_lettered":
                log.warning("change %s dead-lettered: %s", outcome.sequence, outcome.reason)
            if outcome.change is not None:
                self._tell_listeners(outcome.change)
            if outcome.sequence is not None:
                self._feed_head = max(self._feed_head, outcome.sequence, _feed_head(message))

    def _tell_listeners(self, change: Change) -> None:
        for listener in self._change_listeners:
            try:
                listener(change)
            except Exception:
                # A screen that cannot be told must not stop the feed: it is applied.
                log.exception("a change listener failed on %s", change.type)

    def _apply_revocations(self, message: Message, now: datetime) -> None:
        with self._store.transaction() as db:
            try:
                revocations = parse_revocation_list(message.payload)
            except ChangeRejected as exc:
                dead_letter(db, message.topic, message.payload, exc.message, now)
                return
            added = apply_revocation_list(db, revocations, now)
        log.info("revocation list applied: %d pass(es) newly revoked", added)

    def _apply_key_set(self, message: Message, now: datetime) -> None:
        with self._store.transaction() as db:
            try:
                key_set = parse_key_set(message.payload)
            except WalletError as exc:
                dead_letter(db, message.topic, message.payload, exc.message, now)
                return
            taken = take_key_set(db, self._ctx.pass_keys, key_set)
        if taken:
            log.info(
                "pass key set %d in use: keys %s, withdrawn %s",
                key_set.version,
                list(self._ctx.pass_keys.key_ids()),
                list(key_set.withdrawn),
            )

    def _catch_up_feed(self) -> None:
        """Ask for the next replay batch while behind the centre's feed head."""
        last = last_applied(self._store.db)
        if last >= self._feed_head:
            return
        stalled = time.monotonic() - self._last_resync >= REPLAY_STALL_SECONDS
        if last >= self._replay_until or stalled:
            self._request_resync()

    def _request_resync(self) -> None:
        last = last_applied(self._store.db)
        self._last_resync = time.monotonic()
        self._replay_until = last + REPLAY_BATCH
        self._resync_due = self._last_resync + self._resync_wait.delay()
        request = {"from_sequence": last + 1, "limit": REPLAY_BATCH, "device_id": self._device}
        try:
            self.link.publish(self.topics.resync, json.dumps(request).encode())
        except SyncError as exc:
            log.info("replay request waits for the link: %s", exc)

    def _publish_event(self, payload: bytes) -> int:
        return self.link.publish(
            self.topics.events, payload, qos=1, content_type=BATCH_CONTENT_TYPE
        )

    def _publish_status(self, state: str) -> None:
        try:
            self.link.publish(self._status_topic, self._status_payload(state), qos=1, retain=True)
        except SyncError as exc:
            # The link dropped between the connect and now: the next connect sends it.
            log.info("status not sent: %s", exc)

    def _status_payload(self, state: str) -> bytes:
        body: dict[str, Any] = {
            "state": state,
            "store_id": self._ctx.config.store.id,
            "device_id": self._device,
            "version": __version__,
            "at": to_iso(self._ctx.clock()),
        }
        if state == "online":
            stats = outbox_stats(self._store.db)
            body["backlog"] = stats.depth
            body["last_seq"] = stats.newest_seq
            body["oldest_age_seconds"] = stats.oldest_age_seconds
            body["parked"] = parked_count(self._store.db)
            if self._device_health is not None:
                try:
                    body["devices"] = self._device_health()
                except Exception:
                    # A device that cannot say how it is must not stop the heartbeat.
                    log.exception("device health unavailable for the heartbeat")
        return json.dumps(body).encode()


def _feed_head(message: Message) -> int:
    """The centre's `feedhead` extension: the newest sequence in this store's feed."""
    try:
        return int(json.loads(message.payload).get("feedhead", 0))
    except (ValueError, TypeError, AttributeError):
        return 0
