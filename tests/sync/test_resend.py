"""The store's resend after a fleet-wide outage: only what timed out, each store on its
own jittered deadline, and a reconnect sends again only what the broker had not taken.

The publisher runs on a real store (SQLite outbox); the broker is played by a recorder of
what was handed to it, and time by a clock the test moves, so deadlines are exact."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.context import AgentContext, open_agent
from sync.protocol.acks import AckMessage
from sync.publisher import ACK_TIMEOUT_JITTER, FIRST_ACK_TIMEOUT_FACTOR, OutboxPublisher
from tests.sync.conftest import add_events, sync_config

SOURCE = "/stores/store-a/devices/till-1"
TIMEOUT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Takes every message like a broker would; remembers which seqs each carried."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, list[int]]] = []  # (mid, seqs)

    def publish(self, payload: bytes) -> int:
        mid = len(self.sent) + 1
        self.sent.append((mid, [int(e["sequence"]) for e in json.loads(payload)]))
        return mid

    def seqs(self, since: int = 0) -> list[int]:
        return [seq for _, seqs in self.sent[since:] for seq in seqs]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[AgentContext]:
    ctx = open_agent(sync_config(tmp_path / "store", "mqtt://127.0.0.1:9"))
    yield ctx
    ctx.store.close()


def publisher_for(
    ctx: AgentContext, broker: Recorder, clock: Clock, seed: int = 1, first: float | None = TIMEOUT
) -> OutboxPublisher:
    """`first`: the wait until a connection's first ack (None: the agent's own, a
    multiple of TIMEOUT); most tests here are about what follows, so the plain one."""
    publisher = OutboxPublisher(
        ctx.store,
        broker.publish,
        ctx.clock,
        source=SOURCE,
        ack_timeout=TIMEOUT,
        first_ack_timeout=first,
        rng=random.Random(seed),
        monotonic=clock,
    )
    publisher.restart()
    return publisher


def puback_all(publisher: OutboxPublisher, broker: Recorder) -> None:
    for mid, _ in broker.sent:
        publisher.on_published(mid, None)


def test_only_the_events_whose_ack_is_overdue_are_sent_again(store):
    broker, clock = Recorder(), Clock()
    publisher = publisher_for(store, broker, clock)
    add_events(store, 5)
    publisher.fill()
    clock.now += TIMEOUT * 0.8
    add_events(store, 5, start=5)
    publisher.fill()
    puback_all(publisher, broker)
    assert broker.seqs() == list(range(1, 11))
    # The centre acks 1-2 only; then the first send's deadline passes, not the second's.
    publisher.on_ack(AckMessage(ranges=((SOURCE, 1, 2),)))
    clock.now += TIMEOUT * (1 + ACK_TIMEOUT_JITTER) * 0.5
    before = len(broker.sent)
    # 0.8 + 0.75 timeouts after the first send: overdue whatever its jitter drew, while
    # the second (0.75 ago) cannot be.
    assert publisher.check_ack_timeout()
    publisher.fill()
    assert broker.seqs(before) == [3, 4, 5]
    assert publisher.resent_total == 3
    assert publisher.in_flight == 8  # 3-5 again, 6-10 still waiting on their first send


def test_stores_that_sent_together_resend_spread_over_the_jitter_span(store):
    """A centre restart loses the acks of a whole fleet that sent at the same instant."""
    clock = Clock()
    fleet = [(Recorder(), seed) for seed in range(40)]
    add_events(store, 3)
    publishers = [(publisher_for(store, b, clock, seed), b) for b, seed in fleet]
    for publisher, broker in publishers:
        publisher.fill()
        puback_all(publisher, broker)
    resent_at: list[float] = []
    start = clock.now
    while len(resent_at) < len(publishers) and clock.now < start + 3 * TIMEOUT:
        clock.now += 0.1
        for publisher, _ in publishers:
            if publisher.check_ack_timeout():
                resent_at.append(clock.now - start)
    assert len(resent_at) == len(publishers)
    assert min(resent_at) >= TIMEOUT  # nobody gives up before the timeout
    assert max(resent_at) <= TIMEOUT * (1 + ACK_TIMEOUT_JITTER) + 0.1
    # Spread over the span, not in step: no tenth of a second holds more than 4 of 40.
    assert max(resent_at) - min(resent_at) > TIMEOUT * ACK_TIMEOUT_JITTER * 0.6
    assert max(resent_at.count(t) for t in resent_at) <= 4


def test_the_wait_doubles_while_nothing_is_acknowledged_and_resets_on_an_ack(store):
    broker, clock = Recorder(), Clock()
    publisher = publisher_for(store, broker, clock)
    add_events(store, 2)
    publisher.fill()
    puback_all(publisher, broker)
    resends: list[float] = []
    start = clock.now
    while len(resends) < 3:
        clock.now += 0.5
        if publisher.check_ack_timeout():
            resends.append(clock.now - start)
            publisher.fill()
            puback_all(publisher, broker)
    gaps = [resends[0], resends[1] - resends[0], resends[2] - resends[1]]
    assert TIMEOUT <= gaps[0] <= TIMEOUT * 1.5 + 0.5
    assert 2 * TIMEOUT <= gaps[1] <= 2 * TIMEOUT * 1.5 + 0.5
    assert 4 * TIMEOUT <= gaps[2] <= 4 * TIMEOUT * 1.5 + 0.5
    publisher.on_ack(AckMessage(ranges=((SOURCE, 1, 2),)))
    add_events(store, 1, start=2)
    publisher.fill()
    sent_at = clock.now
    while not publisher.check_ack_timeout():
        clock.now += 0.5
    assert clock.now - sent_at <= TIMEOUT * 1.5 + 0.5


def test_until_a_connections_first_ack_sends_wait_longer_then_the_plain_timeout(store):
    """Just reconnected, a batch may be queued behind the whole fleet's: no resend until
    FIRST_ACK_TIMEOUT_FACTOR timeouts; once the centre has answered, the plain one."""
    broker, clock = Recorder(), Clock()
    publisher = publisher_for(store, broker, clock, first=None)
    add_events(store, 2)
    publisher.fill()
    puback_all(publisher, broker)
    sent_at = clock.now
    while not publisher.check_ack_timeout():
        clock.now += 0.5
    waited = clock.now - sent_at
    first = TIMEOUT * FIRST_ACK_TIMEOUT_FACTOR
    assert first <= waited <= first * (1 + ACK_TIMEOUT_JITTER) + 0.5
    publisher.fill()
    puback_all(publisher, broker)
    publisher.on_ack(AckMessage(ranges=((SOURCE, 1, 2),)))
    add_events(store, 1, start=2)
    publisher.fill()
    puback_all(publisher, broker)
    sent_at = clock.now
    while not publisher.check_ack_timeout():
        clock.now += 0.5
    assert TIMEOUT <= clock.now - sent_at <= TIMEOUT * (1 + ACK_TIMEOUT_JITTER) + 0.5
    # A reconnect: the next first ack is awaited the long way again.
    publisher.restart()
    publisher.fill()
    puback_all(publisher, broker)
    sent_at = clock.now
    while not publisher.check_ack_timeout():
        clock.now += 0.5
    assert clock.now - sent_at >= first


def test_a_reconnect_sends_again_only_what_the_broker_had_not_taken(store):
    broker, clock = Recorder(), Clock()
    publisher = publisher_for(store, broker, clock)
    add_events(store, 4)
    publisher.fill()
    add_events(store, 4, start=4)
    publisher.fill()
    first_mid, first_seqs = broker.sent[0]
    publisher.on_published(first_mid, None)  # the broker took the first batch only
    publisher.on_disconnected()  # (it splits the batch it suspects of the drop)
    publisher.restart()
    before = len(broker.sent)
    publisher.fill()
    assert first_seqs == [1, 2, 3, 4]
    assert broker.seqs(before) == [5, 6, 7, 8]
    assert publisher.resent_total == 0
    # The first batch's ack may still come from the session; if it does not, it is
    # sent again once its (fresh, jittered) deadline passes.
    puback_all(publisher, broker)
    clock.now += TIMEOUT * (1 + ACK_TIMEOUT_JITTER) + 0.1
    assert publisher.check_ack_timeout()
    before = len(broker.sent)
    publisher.fill()
    assert sorted(broker.seqs(before)) == list(range(1, 9))


def test_only_an_ack_for_what_the_broker_took_on_this_connection_is_a_clock_reading(store):
    broker, clock = Recorder(), Clock()
    publisher = publisher_for(store, broker, clock)
    add_events(store, 3)
    publisher.fill()
    ack = AckMessage(ranges=((SOURCE, 1, 3),))
    # Before the broker's PUBACK: an ack for these seqs was written before our send
    # reached the centre (kept in our session from an earlier send).
    assert not publisher.answers_current_send(ack)
    puback_all(publisher, broker)
    assert publisher.answers_current_send(ack)
    assert not publisher.answers_current_send(AckMessage(ranges=(("/stores/x/devices/y", 1, 3),)))
    publisher.restart()  # a reconnect: what the broker took before is not this send
    assert not publisher.answers_current_send(ack)
    publisher.on_ack(ack)
    assert not publisher.answers_current_send(ack)  # acknowledged already
