"""An edge-central worker fails fast and visibly: `ready` only when every part runs,
out at once (non-zero) when one dies, /healthz and /metrics saying what it does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.context import AgentContext, open_agent
from sync.central.worker import EXIT_PART_DIED
from tests.sync.centre_workers import CentreWorker
from tests.sync.conftest import Broker, add_events, backlog, sync_config, wait_for
from tests.sync.postgres import rows

# A dead part is noticed within the worker's check interval (0.1 s); this allows for a
# loaded 2-core machine, and is far below anything a store would notice.
EXIT_WITHIN_SECONDS = 10


@pytest.fixture
def stores(tmp_path: Path, broker) -> Iterator[list[AgentContext]]:
    """Two stores; listed before sync_factory, so they close after its services stop."""
    opened = [open_agent(sync_config(tmp_path / s, broker.url, store_id=s)) for s in ("s1", "s2")]
    yield opened
    for ctx in opened:
        ctx.store.close()


def outbox(ctx: AgentContext) -> list[tuple]:
    return ctx.store.db.execute("SELECT seq, event_id FROM outbox ORDER BY seq").fetchall()


def assert_centre_has_every_event_once(url: str, stores: list[AgentContext]) -> None:
    for ctx in stores:
        wait_for(lambda ctx=ctx: backlog(ctx) == 0, f"store {ctx.config.store.id} fully acked")
    for ctx in stores:
        store_id = ctx.config.store.id
        centre = rows(url, f"SELECT seq, event_id FROM events WHERE store_id = '{store_id}'"
                      " ORDER BY seq")  # fmt: skip
        assert centre == outbox(ctx)  # every event once, in the store's order
    total = sum(len(outbox(ctx)) for ctx in stores)
    assert rows(url, "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events") == [(total, total)]


def test_worker_reports_health_and_metrics(tmp_path, broker, postgres_url, stores, sync_factory):
    worker = CentreWorker(tmp_path / "w", "w1", broker.url, postgres_url, "--http-port", "0")
    try:
        worker.wait_ready()
        status, report = worker.health()
        assert status == 200
        assert report["ready"] and report["live"]
        assert report["checks"]["database"]["ok"] and report["checks"]["broker"]["ok"]
        # `edge-central run` delivers too (--delivery-threads 2): each thread is a part.
        assert set(report["checks"]["threads"]) == {
            "ingest",
            "lookups",
            "stock",
            "broker",
            "delivery-0",
            "delivery-1",
        }
        add_events(stores[0], 300)
        sync_factory(stores[0])
        wait_for(lambda: backlog(stores[0]) == 0, "the store fully acked")
        metrics = worker.metrics()
        assert metrics["edge_central_events_inserted_total"] == 300
        assert metrics["edge_central_acks_sent_total"] >= 1
        assert metrics["edge_central_batch_seconds_count"] >= 1
        lag = metrics['edge_central_store_lag_seconds{store_id="s1"}']
        assert 0 <= lag < 600  # the store's events were written just now
        assert metrics['edge_central_part_up{part="ingest"}'] == 1
        broker.kill()
        wait_for(lambda: worker.health()[0] == 503, "/healthz to notice the broker gone")
        status, report = worker.health()
        assert report["checks"]["broker"]["ok"] is False
        assert report["checks"]["database"]["ok"] is True
        assert worker.health("/healthz/live")[0] == 200  # alive: a restart would not help
        broker.start()
        wait_for(lambda: worker.health()[0] == 200, "/healthz ready again")
        assert worker.terminate() == 0
    finally:
        worker.kill9()


def test_worker_is_ready_only_once_every_part_runs(tmp_path, postgres_url):
    broker = Broker(tmp_path / "broker")  # its port chosen, nothing listening yet
    worker = CentreWorker(tmp_path / "w", "w1", broker.url, postgres_url, "--http-port", "0")
    try:
        wait_for(lambda: "health and metrics on" in worker.log(), "the worker's HTTP port")

        def ingest_running() -> tuple | None:
            # The HTTP port opens before the threads start: wait for the ingest thread.
            answer = worker.health()
            threads = answer[1]["checks"].get("threads", {}) if answer else {}
            return answer if threads.get("ingest", {}).get("ready") else None

        status, report = wait_for(ingest_running, "/healthz with the ingest thread running")
        assert status == 503
        assert report["checks"]["broker"]["ok"] is False
        with pytest.raises(AssertionError, match="not ready"):
            worker.wait_ready(timeout=3)  # no `ready` line while the broker is missing
        broker.start()
        worker.wait_ready()
        assert worker.health()[0] == 200
        assert worker.terminate() == 0
    finally:
        worker.kill9()
        broker.kill()


@pytest.mark.parametrize("part", ["lookups", "broker", "stock"])
def test_worker_whose_thread_dies_exits_non_zero_at_once(
    tmp_path, broker, postgres_url, stores, sync_factory, part
):
    worker = CentreWorker(tmp_path / "w", "w1", broker.url, postgres_url, fault=part)
    try:
        worker.wait_ready()
        if part == "broker":  # dies on the PUBACK for its first ack
            add_events(stores[0], 5)
            sync_factory(stores[0])
        code = worker.wait_exit(timeout=EXIT_WITHIN_SECONDS + 30)
    finally:
        worker.kill9()
    log = worker.log()
    assert code == EXIT_PART_DIED, log
    thread = {"lookups": "lookups", "broker": "broker", "stock": "stock"}[part]
    assert f"the {thread} thread stopped: leaving the shared subscription" in log, log
    assert "injected fault" in log, log  # the thread's own traceback, for the operator


def test_dead_ingest_thread_exits_and_a_replacement_picks_up_its_share(
    tmp_path, broker, postgres_url, stores, sync_factory
):
    log_dir = tmp_path / "workers"
    healthy = CentreWorker(log_dir, "w1", broker.url, postgres_url)
    faulty = CentreWorker(log_dir, "w2", broker.url, postgres_url, fault="ingest")
    replacement = None
    try:
        healthy.wait_ready()
        faulty.wait_ready()
        for ctx in stores:
            add_events(ctx, 1500)
            sync_factory(ctx)
        code = faulty.wait_exit(timeout=60)
        died_at = time.monotonic()
        assert code == EXIT_PART_DIED
        assert "the ingest thread stopped" in faulty.log()
        replacement = CentreWorker(log_dir, "w2", broker.url, postgres_url).wait_ready()
        assert time.monotonic() - died_at < 60
        for ctx in stores:  # a second wave, after the replacement came up
            add_events(ctx, 1500, start=1500)
        assert_centre_has_every_event_once(postgres_url, stores)
        assert healthy.terminate() == 0
        assert replacement.terminate() == 0
    finally:
        for worker in (healthy, faulty, replacement):
            if worker is not None:
                worker.kill9()
    assert replacement.inserted() > 0  # it took its share of the second wave


def test_worker_killed_mid_burst_loses_and_duplicates_nothing(
    tmp_path, broker, postgres_url, stores, sync_factory
):
    log_dir = tmp_path / "workers"
    first = CentreWorker(log_dir, "w1", broker.url, postgres_url)
    second = CentreWorker(log_dir, "w2", broker.url, postgres_url)
    restarted = None
    try:
        first.wait_ready()
        second.wait_ready()
        for ctx in stores:
            add_events(ctx, 3000)
            sync_factory(ctx)
        wait_for(
            lambda: rows(postgres_url, "SELECT COUNT(*) FROM events")[0][0] >= 500,
            "the burst under way",
        )
        second.kill9()
        at_kill = rows(postgres_url, "SELECT COUNT(*) FROM events")[0][0]
        assert at_kill < 6000, "the burst was over before the kill: make it bigger"
        # Same worker id: it resumes the session the broker kept for it.
        restarted = CentreWorker(log_dir, "w2", broker.url, postgres_url).wait_ready()
        assert_centre_has_every_event_once(postgres_url, stores)
        assert rows(postgres_url, "SELECT store_id, contiguous_seq, max_seq FROM sources"
                    " ORDER BY 1") == [("s1", 3000, 3000), ("s2", 3000, 3000)]  # fmt: skip
    finally:
        for worker in (first, second, restarted):
            if worker is not None:
                worker.kill9()


def test_database_outage_mid_burst_loses_and_duplicates_nothing(
    tmp_path, broker, postgres_url, stores, sync_factory
):
    """The system PostgreSQL is shared, so it is not restarted: its database refuses new
    connections and every connection of the workers is terminated (what a restart does
    to them), for a few seconds, in the middle of the burst."""
    import psycopg

    from tests.sync.postgres import ADMIN_URL

    name = postgres_url.rsplit("/", 1)[1]
    log_dir = tmp_path / "workers"
    workers = [
        CentreWorker(log_dir, "w1", broker.url, postgres_url, "--http-port", "0"),
        CentreWorker(log_dir, "w2", broker.url, postgres_url),
    ]
    try:
        for worker in workers:
            worker.wait_ready()
        for ctx in stores:
            add_events(ctx, 3000)
            sync_factory(ctx)
        wait_for(
            lambda: rows(postgres_url, "SELECT COUNT(*) FROM events")[0][0] >= 500,
            "the burst under way",
        )
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            at_outage = rows(postgres_url, "SELECT COUNT(*) FROM events")[0][0]
            assert at_outage < 6000, "the burst was over before the outage: make it bigger"
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            _, report = wait_for(
                lambda: (
                    (found := workers[0].health())[0] == 503
                    and "database unreachable" in found[1]["checks"]["database"]["detail"]
                    and found
                ),
                "/healthz to see the database gone",
            )
            assert report["checks"]["database"]["ok"] is False
            assert report["live"] is True  # a restart would not bring the database back
            time.sleep(3)
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        wait_for(lambda: workers[0].health()[0] == 200, "/healthz ready again")
        assert_centre_has_every_event_once(postgres_url, stores)
        assert [worker.proc.poll() for worker in workers] == [None, None]  # rode it out
        assert [worker.terminate() for worker in workers] == [0, 0]
    finally:
        for worker in workers:
            worker.kill9()
