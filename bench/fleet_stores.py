"""Simulated stores for the fleet-reconnect test and benchmark.

Each one does on connecting what the agent's sync service does (sync/service.py): it
subscribes to its acks and change feed, says it is online (retained status), asks for a
replay, and sends its backlog in the agent's own batches (sync.protocol: CloudEvents
envelopes from `build_event`, batches from `build_batches`, acks read by `parse_ack`),
at most as many batches awaiting the broker's PUBACK as the agent allows. It resends
with the agent's policy (a jittered deadline per send, longer until the first ack, only
what is overdue, doubling)
and asks again for a replay the feed did not answer, and it counts every publish of
every event id, so a run can tell how much was sent more than once.

Thousands of them run in one asyncio process: paho's own loop uses select(), which
stops at ~330 clients per process; aiomqtt drives paho's sockets from the asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

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
# The agent's reconnect: a first delay of 1-3 s drawn per client (sync/link.py).
CONNECT_RETRY = (1.0, 3.0)
CONNECT_TIMEOUT_SECONDS = 30.0
# A store with nothing due still looks up this often (to notice the fleet is done).
IDLE_WAKE_SECONDS = 2.0
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

    @property
    def topics(self) -> StoreTopics:
        return StoreTopics(PREFIX, self.store_id)

    @property
    def source(self) -> str:
        return event_source(self.store_id, DEVICE)

    @property
    def resent(self) -> int:
        return sum(count - 1 for count in self.publishes.values() if count > 1)

    def batches(self) -> list[Batch]:
        return build_batches(self.rows)


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
    return SimStore(store_id, rows, ids)


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
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
    started = time.monotonic() if start_at is None else start_at
    done = asyncio.Event()
    remaining = [len(stores)]

    def finished() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            done.set()

    tasks = [
        asyncio.create_task(_run_store(host, port, store, started, finished, done))
        for store in stores
    ]
    while not done.is_set() and time.monotonic() - started < deadline_seconds:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), timeout=PROGRESS_SECONDS)
        if progress is not None and not done.is_set():
            progress(time.monotonic() - started, stores)
    done.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return started


async def _run_store(
    host: str,
    port: int,
    store: SimStore,
    started: float,
    finished,  # type: ignore[no-untyped-def]
    done: asyncio.Event,
) -> None:
    rng = random.Random(store.store_id)
    topics = store.topics
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3600
    while not done.is_set():
        store.connect_attempts += 1
        try:
            async with aiomqtt.Client(
                host,
                port,
                identifier=f"edge-{store.store_id}-{DEVICE}",
                protocol=aiomqtt.ProtocolVersion.V5,
                properties=properties,
                timeout=CONNECT_TIMEOUT_SECONDS,
                max_inflight_messages=MAX_BATCHES_AWAITING_PUBACK + 16,
            ) as client:
                store.connected_after = time.monotonic() - started
                await client.subscribe([(topics.acks, 1), (topics.changes, 1)])
                await _session(client, store, started, finished, done, rng)
                return
        except aiomqtt.MqttError as exc:
            store.errors.append(f"{time.monotonic() - started:.1f}s: {exc}")
            await asyncio.sleep(rng.uniform(*CONNECT_RETRY))


async def _session(
    client: aiomqtt.Client,
    store: SimStore,
    started: float,
    finished,  # type: ignore[no-untyped-def]
    done: asyncio.Event,
    rng: random.Random,
) -> None:
    topics = store.topics
    status = {"state": "online", "store_id": store.store_id, "device_id": DEVICE,
              "version": "sim", "backlog": len(store.rows) - len(store.acked)}  # fmt: skip
    await client.publish(topics.status(DEVICE), json.dumps(status).encode(), qos=1, retain=True)
    ack_wait = Backoff(ACK_TIMEOUT_SECONDS, ACK_TIMEOUT_CAP_SECONDS, ACK_TIMEOUT_JITTER, rng)
    ack_wait.at_least(ACK_TIMEOUT_SECONDS * FIRST_ACK_TIMEOUT_FACTOR)  # until the first ack
    resync_wait = Backoff(RESYNC_RETRY_FIRST_SECONDS, RESYNC_RETRY_CAP_SECONDS, 0.5, rng)
    replay = json.dumps({"from_sequence": 1, "limit": REPLAY_BATCH, "device_id": DEVICE})
    batch_properties = Properties(PacketTypes.PUBLISH)
    batch_properties.ContentType = BATCH_CONTENT_TYPE
    due: dict[int, float] = {}  # seq -> when its ack is due
    # The soonest of `due` or earlier (acks only remove entries): thousands of stores
    # wake often, and scanning every deadline at each wake cost the fleet's one process
    # more CPU than the centre's workers used.
    earliest = [math.inf]
    window = asyncio.Semaphore(MAX_BATCHES_AWAITING_PUBACK)

    async def send(batch: Batch) -> None:
        async with window:
            await client.publish(topics.events, batch.payload, qos=1, properties=batch_properties)

    async def send_rows(rows: list[tuple[int, str]]) -> None:
        deadline = time.monotonic() + ack_wait.delay()
        earliest[0] = min(earliest[0], deadline)
        batches = build_batches(rows)
        for batch in batches:
            for seq in batch.seqs:
                store.publishes[store.ids[seq]] += 1
                due[seq] = deadline
        await asyncio.gather(*(send(batch) for batch in batches))

    async def ask_replay() -> float:
        store.replay_requests += 1
        await client.publish(topics.resync, replay.encode(), qos=1)
        return time.monotonic() + resync_wait.delay()

    counted = False  # told the fleet it is done: fully acked and the feed answered
    replay_due: float | None = await ask_replay()
    await send_rows([row for row in store.rows if row[0] not in store.acked])
    messages = client.messages.__aiter__()
    next_message: asyncio.Future[aiomqtt.Message] | None = None
    while not done.is_set():
        now = time.monotonic()
        if store.done_after is None and len(store.acked) == len(store.rows):
            store.done_after = now - started
        if not counted and store.done_after is not None and store.feed_answered:
            counted = True
            finished()
        if now >= earliest[0]:
            overdue = [seq for seq, at in due.items() if at <= now and seq not in store.acked]
            for seq in overdue:
                del due[seq]
            earliest[0] = min(due.values(), default=math.inf)
            if overdue:
                ack_wait.grow()
                wanted = set(overdue)
                await send_rows([row for row in store.rows if row[0] in wanted])
        if replay_due is not None and now >= replay_due:
            resync_wait.grow()
            replay_due = await ask_replay()
        # Sleep until the next deadline or message: thousands of stores must not poll.
        wake = min(earliest[0], replay_due or now + IDLE_WAKE_SECONDS)
        # One pending read kept across wake-ups: cancelling aiomqtt's __anext__ on a
        # timeout loses a message that arrived in the same turn (lost acks, then resends).
        if next_message is None:
            next_message = asyncio.ensure_future(messages.__anext__())
        finished_reads, _ = await asyncio.wait(
            {next_message}, timeout=min(max(wake - now, 0.05), IDLE_WAKE_SECONDS)
        )
        if not finished_reads:
            continue
        message, next_message = next_message.result(), None
        topic = message.topic.value
        if topic == topics.changes:
            store.feed_answered = True
            replay_due = None
        elif topic == topics.acks:
            ack = parse_ack(bytes(message.payload))  # type: ignore[arg-type]
            for source, first, last in ack.ranges:
                if source == store.source:
                    for seq in range(first, last + 1):
                        store.acked.add(seq)
                        due.pop(seq, None)
            if ack.ranges:
                ack_wait.reset()
                if store.first_ack_after is None:
                    store.first_ack_after = time.monotonic() - started
    if next_message is not None:
        next_message.cancel()
