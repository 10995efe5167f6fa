"""Simulated stores for the fleet-reconnect test and benchmark.

Each one does on connecting what the agent's sync service does (sync/service.py): it
subscribes to its acks and change feed, says it is online (retained status), asks for a
replay, and sends its backlog in the agent's own batches (sync.protocol: CloudEvents
envelopes from `build_event`, batches from `build_batches`, acks read by `parse_ack`),
at most as many batches awaiting the broker's PUBACK as the agent allows. It resends
with the agent's policy (a jittered deadline per send, longer until the first ack, only
what is overdue, doubling) and asks again for a replay the feed did not answer, and it
counts every publish of every event id, so a run can tell how much was sent more than
once.

Thousands of them run in one asyncio process, on bench.mqtt_wire: they share the bench
machine with what they measure, so each must cost little CPU. Everything a store sends
that does not change (its batches, built before the start; its replay request) is
encoded once, and a store wakes only for a deadline, not per message: acks are handled
as they arrive, in the connection's callback.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.mqtt_wire import MqttClient, MqttWireError, Publication, connect, encode_publish
from sync.backoff import Backoff
from sync.protocol.acks import parse_ack
from sync.protocol.batches import BATCH_CONTENT_TYPE, Batch, build_batches
from sync.protocol.envelope import build_event, event_source
from sync.protocol.topics import StoreTopics
from sync.publisher import (
    ACK_TIMEOUT_CAP_SECONDS,
    ACK_TIMEOUT_JITTER,
    ACK_TIMEOUT_SECONDS,
    FIRST_ACK_TIMEOUT_FACTOR,
    MAX_BATCHES_AWAITING_PUBACK,
)
from sync.service import (
    REPLAY_BATCH,
    RESYNC_RETRY_CAP_SECONDS,
    RESYNC_RETRY_FIRST_SECONDS,
)

PREFIX = "retail/v1"
DEVICE = "sim-1"
SESSION_EXPIRY_SECONDS = 3600
# The agent's reconnect: a first delay of 1-3 s drawn per client (sync/link.py).
CONNECT_RETRY = (1.0, 3.0)
# For the CONNACK, and for each SUBACK and PUBACK: past it the store reconnects.
BROKER_TIMEOUT_SECONDS = 30.0
# Connections opening at once per process (TCP handshake to CONNACK). All at once,
# thousands of SYNs overflow the broker's listen backlog (Mosquitto's holds 100) and each
# one dropped waits a second or more to be sent again: a 500-store run, 1.5 s long, had
# its p99 at 3.3x its p50 from one such second. 2 processes x 32 stay within the backlog.
HANDSHAKES_AT_ONCE = 32
# A deadline that has just passed is looked at again after at least this long.
MIN_WAIT_SECONDS = 0.05
PROGRESS_SECONDS = 10.0


@dataclass
class SimStore:
    store_id: str
    rows: list[tuple[int, str]]  # (seq, envelope as the outbox stores it)
    ids: dict[int, str]  # seq -> event id
    publishes: Counter[str] = field(default_factory=Counter)
    acked: set[int] = field(default_factory=set)
    done_after: float | None = None  # seconds from the fleet's start to the last ack
    first_ack_after: float | None = None
    connected_after: float | None = None  # seconds from the fleet's start to its CONNACK
    feed_answered: bool = False
    replay_requests: int = 0
    connect_attempts: int = 0
    errors: list[str] = field(default_factory=list)  # why a connection ended early
    # build_batches(rows), made once by make_store: the agent builds its batches from
    # the outbox as it sends, but here that is the instrument's cost, not the fleet's.
    batches: list[Batch] = field(default_factory=list)

    @property
    def topics(self) -> StoreTopics:
        return StoreTopics(PREFIX, self.store_id)

    @property
    def source(self) -> str:
        return event_source(self.store_id, DEVICE)

    @property
    def resent(self) -> int:
        return sum(count - 1 for count in self.publishes.values() if count > 1)


def make_store(store_id: str, events: int, seed: int = 0) -> SimStore:
    """A store with `events` scan events in its backlog, built as the agent builds them."""
    at = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    rows: list[tuple[int, str]] = []
    ids: dict[int, str] = {}
    encoder = json.JSONEncoder(ensure_ascii=False)  # as edge_agent.outbox stores them
    for seq in range(1, events + 1):
        event = build_event(
            event_type="scan.recorded",
            store_id=store_id,
            device_id=DEVICE,
            subject=None,
            data=scan_data(seed * 1_000_000 + seq),
            at=at + timedelta(seconds=seq),
        )
        rows.append((seq, encoder.encode(event)))
        ids[seq] = event["id"]
    return SimStore(store_id, rows, ids, batches=build_batches(rows))


def scan_data(n: int) -> dict[str, object]:
    return {"source": "lane-1", "symbology": "]E0", "kind": "gtin", "outcome": "product",
            "value": f"{n:013d}", "scanned_at": "2026-11-24T08:00:00.000000Z"}  # fmt: skip


async def run_fleet(
    host: str,
    port: int,
    stores: list[SimStore],
    deadline_seconds: float,
    progress: Callable[[float, list[SimStore]], None] | None = None,
    start_at: float | None = None,
) -> float:
    """Connect every store at the same instant and drain each backlog; returns the
    fleet's start (time.monotonic()). The run ends once every store is fully acked and
    its replay request answered, or at the deadline whatever is left. `start_at` (a
    time.monotonic() reading, the same in every process): when the fleet is split
    over several processes, all start together and time from one instant."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    remaining = [len(stores)]

    def finished() -> None:
        remaining[0] -= 1
        if remaining[0] == 0 and not done.done():
            done.set_result(None)

    agents = [_StoreAgent(store, finished) for store in stores]  # encodes: before the start
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    started = time.monotonic() if start_at is None else start_at
    handshakes = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    tasks = [asyncio.create_task(a.run(host, port, started, done, handshakes)) for a in agents]
    while not done.done() and time.monotonic() - started < deadline_seconds:
        left = deadline_seconds - (time.monotonic() - started)
        await asyncio.wait([done], timeout=min(PROGRESS_SECONDS, left))
        if progress is not None and not done.done():
            progress(time.monotonic() - started, stores)
    if not done.done():
        done.set_result(None)
    for agent in agents:
        agent.fleet_ended()
    await asyncio.gather(*tasks, return_exceptions=True)
    return started


@dataclass(frozen=True, slots=True)
class _WireBatch:
    """A batch as it goes out: its PUBLISH, and the events it carries."""

    publication: Publication
    seqs: tuple[int, ...]
    event_ids: tuple[str, ...]


class _StoreAgent:
    """One simulated store's sync, across its connections: the reconnect loop, and per
    connection what the agent's sync service does between CONNACK and disconnect."""

    def __init__(self, store: SimStore, finished: Callable[[], None]) -> None:
        self.store = store
        self.finished = finished  # told once, when fully acked with its feed answered
        self.counted = False
        self.rng = random.Random(store.store_id)
        topics = store.topics
        self.client_id = f"edge-{store.store_id}-{DEVICE}"
        self.source = store.source
        self.acks_topic = topics.acks
        self.changes_topic = topics.changes
        self.status_topic = topics.status(DEVICE)
        replay = {"from_sequence": 1, "limit": REPLAY_BATCH, "device_id": DEVICE}
        self.replay = encode_publish(topics.resync, json.dumps(replay).encode(), qos=1)
        self.events_topic = topics.events
        self.batches = [self._wire_batch(batch) for batch in store.batches]
        # Where each batch built before the run starts and ends, for _batches_for.
        self.batch_starting = {b.seqs[0]: n for n, b in enumerate(self.batches)}
        self.batch_ending = {b.seqs[-1]: n for n, b in enumerate(self.batches)}
        self.started = 0.0
        self.ended: asyncio.Future[None] | None = None  # set when the fleet is done
        self._begin_connection()

    def _begin_connection(self) -> None:
        """What is kept per connection: the agent's sync service starts afresh on each."""
        self.ack_wait = Backoff(
            ACK_TIMEOUT_SECONDS, ACK_TIMEOUT_CAP_SECONDS, ACK_TIMEOUT_JITTER, self.rng
        )
        self.ack_wait.at_least(ACK_TIMEOUT_SECONDS * FIRST_ACK_TIMEOUT_FACTOR)  # to 1st ack
        self.resync_wait = Backoff(
            RESYNC_RETRY_FIRST_SECONDS, RESYNC_RETRY_CAP_SECONDS, 0.5, self.rng
        )
        self.due: dict[int, float] = {}  # seq -> when its ack is due
        self.earliest = math.inf  # no deadline in `due` is earlier (acks only remove some)
        self.replay_due: float | None = None

    async def run(
        self,
        host: str,
        port: int,
        started: float,
        done: asyncio.Future[None],
        handshakes: asyncio.Semaphore,
    ) -> None:
        """Connect, and reconnect after a lost connection, until the fleet is done."""
        store = self.store
        self.started = started
        self.ended = asyncio.get_running_loop().create_future()
        while not done.done():
            store.connect_attempts += 1
            try:
                client = await connect(
                    host,
                    port,
                    self.client_id,
                    self.on_message,
                    session_expiry=SESSION_EXPIRY_SECONDS,
                    timeout=BROKER_TIMEOUT_SECONDS,
                    handshakes=handshakes,
                )
            except MqttWireError as exc:
                store.errors.append(f"{time.monotonic() - started:.1f}s: {exc}")
                await asyncio.sleep(self.rng.uniform(*CONNECT_RETRY))
                continue
            try:
                store.connected_after = time.monotonic() - started
                await self._session(client, done)
                return
            except MqttWireError as exc:
                store.errors.append(f"{time.monotonic() - started:.1f}s: {exc}")
            finally:
                await client.disconnect()
            await asyncio.sleep(self.rng.uniform(*CONNECT_RETRY))

    async def _session(self, client: MqttClient, done: asyncio.Future[None]) -> None:
        store = self.store
        self._begin_connection()
        status = {"state": "online", "store_id": store.store_id, "device_id": DEVICE,
                  "version": "sim", "backlog": len(store.rows) - len(store.acked)}  # fmt: skip
        # As the agent opens a connection (sync/link.py subscribes on the CONNACK, then
        # sync/service.py sends its status, its replay request and its backlog): one
        # after the other, none waiting for the broker's answer to the one before. The
        # broker takes them in order, so the subscription holds before the first ack.
        answers = [
            client.send_subscribe([(self.acks_topic, 1), (self.changes_topic, 1)]),
            client.publish(
                encode_publish(self.status_topic, json.dumps(status).encode(), qos=1, retain=True)
            ),
            self._ask_replay(client),
        ]
        # From the batches, not store.rows: in a process forked from the one that built
        # the stores, reading every row would copy their memory pages (refcounts).
        acked = store.acked
        await self._send(client, [s for b in self.batches for s in b.seqs if s not in acked])
        for answer in answers:
            await answer  # raises if the connection ended or the broker did not answer
        while not done.done():
            self._check_complete()
            now = time.monotonic()
            if now >= self.earliest:
                # Acked events can be in `due`: acked while _send waited, before their batch.
                acked = store.acked
                overdue = [seq for seq, at in self.due.items() if at <= now and seq not in acked]
                for seq in overdue:
                    del self.due[seq]
                self.earliest = min(self.due.values(), default=math.inf)
                if overdue:
                    self.ack_wait.grow()
                    await self._send(client, sorted(overdue))
            if self.replay_due is not None and now >= self.replay_due:
                self.resync_wait.grow()
                self._ask_replay(client)  # its PUBACK is not waited for, as by the agent
            # Asleep until the next deadline: acks and changes are handled as they come.
            wake = min(self.earliest, math.inf if self.replay_due is None else self.replay_due)
            now = time.monotonic()  # sending may have taken a while
            timeout = None if wake == math.inf else max(wake - now, MIN_WAIT_SECONDS)
            await asyncio.wait(
                [self.ended, client.closed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            client.raise_if_lost()

    def fleet_ended(self) -> None:
        """Wake this store's session to end it. Each store sleeps on its own future: with
        thousands asleep on the fleet's one, each wait added and removed a callback in a
        list thousands long (5,000 stores: 4.5-4.8 CPU-s for the simulated stores, 3.6
        with a future each)."""
        if self.ended is not None and not self.ended.done():
            self.ended.set_result(None)

    def on_message(self, topic: str, payload: bytes) -> None:
        """A message on the acks or changes topic (called as it arrives)."""
        store = self.store
        if topic == self.changes_topic:
            store.feed_answered = True
            self.replay_due = None
        elif topic == self.acks_topic:
            ack = parse_ack(payload)
            for source, first, last in ack.ranges:
                if source == self.source:
                    store.acked.update(range(first, last + 1))
                    for seq in range(first, last + 1):
                        self.due.pop(seq, None)
            if ack.ranges:
                self.ack_wait.reset()
                if store.first_ack_after is None:
                    store.first_ack_after = time.monotonic() - self.started
        self._check_complete()

    def _check_complete(self) -> None:
        store = self.store
        if store.done_after is None and len(store.acked) == len(store.rows):
            store.done_after = time.monotonic() - self.started
        if not self.counted and store.done_after is not None and store.feed_answered:
            self.counted = True
            self.finished()

    def _ask_replay(self, client: MqttClient) -> asyncio.Future[int]:
        """Ask the centre to replay the change feed, and when to ask again; returns the
        future of the request's PUBACK."""
        self.store.replay_requests += 1
        # Before the PUBACK: the feed's answer can come first, and cancels it.
        self.replay_due = time.monotonic() + self.resync_wait.delay()
        return client.publish(self.replay)

    async def _send(self, client: MqttClient, seqs: list[int]) -> None:
        """Publish these events (in order) with one deadline for their acks, at most
        MAX_BATCHES_AWAITING_PUBACK batches awaiting the broker's PUBACK at a time."""
        if not seqs:
            return
        deadline = time.monotonic() + self.ack_wait.delay()
        self.earliest = min(self.earliest, deadline)
        awaiting: deque[asyncio.Future[int]] = deque()
        for batch in self._batches_for(seqs):
            if len(awaiting) == MAX_BATCHES_AWAITING_PUBACK:
                await awaiting.popleft()
            self.store.publishes.update(batch.event_ids)
            self.due.update(dict.fromkeys(batch.seqs, deadline))
            awaiting.append(client.publish(batch.publication))
        for puback in awaiting:
            await puback

    def _batches_for(self, seqs: list[int]) -> list[_WireBatch]:
        """The agent's batches for these events, build_batches over their rows in order:
        those built before the run when the events are a run of whole ones of them (the
        backlog, or whole sends overdue), else built now."""
        first = self.batch_starting.get(seqs[0])
        last = self.batch_ending.get(seqs[-1])
        if first is not None and last is not None and first <= last:
            whole = self.batches[first : last + 1]
            if sum(len(b.seqs) for b in whole) == len(seqs):
                return whole
        wanted = set(seqs)
        rows = [row for row in self.store.rows if row[0] in wanted]
        return [self._wire_batch(batch) for batch in build_batches(rows)]

    def _wire_batch(self, batch: Batch) -> _WireBatch:
        publication = encode_publish(
            self.events_topic, batch.payload, qos=1, content_type=BATCH_CONTENT_TYPE
        )
        return _WireBatch(
            publication, batch.seqs, tuple(map(self.store.ids.__getitem__, batch.seqs))
        )
