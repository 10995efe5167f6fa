"""Sync benchmarks, each against a reference measured in the same run:

- drain: N queued outbox events to a real Mosquitto, acknowledged by edge-central after
  its commit, against `mosquitto_pub -l` publishing the same count and size at QoS 1
  to the same broker (target ratio >= 0.5);
- append: a durable transaction with its outbox event against a raw single-row insert
  per fsync'd transaction on the same SQLite settings (target ratio >= 0.8);
- ingest: edge-central events/s into SQLite and PostgreSQL, one and two workers.

Run: `.venv/bin/python -m bench.bench_sync` (100 k events), `--quick` for a short run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.ports import free_server_port
from bench.stats import report
from edge_agent.config import Config, PathSettings, SyncSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.outbox import append_event
from sync.central.service import CentralService
from sync.protocol.batches import MAX_BATCH_BYTES, MAX_BATCH_EVENTS
from sync.protocol.topics import StoreTopics
from sync.service import SyncService

MOSQUITTO = "/usr/sbin/mosquitto"
BROKER_CONF = Path(__file__).resolve().parents[1] / "systemd" / "mosquitto-edge-central.conf"
# Lines per mosquitto_pub -l run. Its message ids wrap after 65,535, and at end of input
# it disconnects on the PUBACK for the last line's id, which an earlier line with the
# same id gets first: the rest is silently never sent (mosquitto 2.0.11 here: 100 k
# lines, 34,467 delivered, exit status 0, the broker logging a spurious "out of
# memory"). That, not the broker's queue, was the ingest burst "stalling" at ~34 k, and
# it made the drain reference count 100 k messages it never sent.
MOSQUITTO_PUB_MAX_LINES = 50_000
# Events per message in the batched ingest run: what a store's batch of small events
# holds under the 64 KiB bound.
INGEST_BATCH = 200
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 k events instead of 100 k")
    parser.add_argument("--events", type=int, help="override the event count")
    args = parser.parse_args()
    count = args.events or (10_000 if args.quick else 100_000)
    appends = 500 if args.quick else 3000
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        work = Path(tmp)
        broker, proc = start_broker(work / "broker")
        try:
            print(f"sync benchmarks: {count} events, {appends} durable appends")
            bench_drain(work, broker, count)
            bench_append(work, appends)
            bench_ingest(work, broker, count)
        finally:
            proc.kill()
            proc.wait()


def bench_drain(work: Path, port: int, count: int) -> None:
    ctx = open_agent(agent_config(work / "drain", port))
    try:
        fill_outbox(ctx, count)
        sample = ctx.store.db.execute("SELECT envelope FROM outbox LIMIT 1").fetchone()[0]
        # The centre runs as its own process, as in production (and off this GIL).
        central = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("edge-central")),
                "run",
                "--broker",
                f"mqtt://127.0.0.1:{port}",
                "--db",
                f"sqlite://{work / 'drain.db'}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert central.stdout is not None
        if central.stdout.readline().strip() != "ready":
            sys.exit("bench_sync: edge-central did not start")
        sync = SyncService(ctx)
        started = time.perf_counter()
        sync.start()
        # Polls the publisher's counter, not the table: a COUNT(*) every few ms would
        # compete with the drain it measures.
        wait(lambda: sync.publisher.acked_total >= count, "drain", timeout=600)
        ours = count / (time.perf_counter() - started)
        sync.stop()
        central.terminate()
        central.wait(timeout=30)
        assert backlog(ctx) == 0
    finally:
        ctx.store.close()
    lines = work / "lines.txt"
    lines.write_text((sample + "\n") * count, encoding="utf-8")
    started = time.perf_counter()
    publish_lines(lines, port, "bench/reference")
    reference = count / (time.perf_counter() - started)
    print(report("drain (acked by centre) vs mosquitto_pub -l", ours, reference, "ev/s", "higher"))
    print(
        f"  ours: {count} events already committed in the store's outbox, sent QoS 1 in"
        f" CloudEvents batches (<= {MAX_BATCH_EVENTS} events / {MAX_BATCH_BYTES // 1024} KiB"
        " per message), written by edge-central (own process, SQLite synchronous=FULL),"
        " acked after its commit, marked acked in the store (fsync'd); timed to the last ack"
    )
    print(
        f"  reference: mosquitto_pub -l, one QoS 1 message per event ({len(sample)} bytes),"
        f" no subscriber, nothing written; timed to its last PUBACK"
        f" (runs of {MOSQUITTO_PUB_MAX_LINES} lines)"
    )


def bench_append(work: Path, count: int) -> None:
    """Alternating rounds of ours and the reference, so fsync speed drifting on a shared
    disk hits both alike."""
    ctx = open_agent(agent_config(work / "append", 1))
    conn = sqlite3.connect(work / "raw.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    ours_seconds = reference_seconds = 0.0
    try:
        fill_outbox(ctx, 1)
        envelope = ctx.store.db.execute("SELECT envelope FROM outbox LIMIT 1").fetchone()[0]
        rounds = max(1, count // 100)
        for _ in range(rounds):
            started = time.perf_counter()
            fill_outbox(ctx, 100)
            ours_seconds += time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(100):
                # autocommit: one transaction, one fsync, per row
                conn.execute("INSERT INTO raw (body) VALUES (?)", [envelope])
            reference_seconds += time.perf_counter() - started
    finally:
        ctx.store.close()
        conn.close()
    total = rounds * 100
    print(
        report(
            "transaction + outbox append vs raw insert",
            total / ours_seconds,
            total / reference_seconds,
            "tx/s",
            "higher",
        )
    )


def bench_ingest(work: Path, port: int, count: int) -> None:
    targets = [("sqlite", f"sqlite://{work / 'ingest-%d.db'}")]
    pg = postgres_database()
    if pg:
        targets.append(("postgresql", pg))
    print(
        "edge-central ingest: workers in this process (one GIL), a burst from mosquitto_pub,"
        " timed to the last commit; 'single' = one event per message (agents before"
        f" batches), 'batched' = {INGEST_BATCH} events per message as agents send now"
    )
    for name, url_pattern in targets:
        for per_message in (1, INGEST_BATCH):
            for workers in (1, 2):
                url = url_pattern % workers if "%d" in url_pattern else url_pattern
                if name == "postgresql":
                    reset_postgres(url)
                rate = ingest_rate(work, port, url, count, workers, per_message)
                label = f"edge-central ingest {name}, {'single' if per_message == 1 else 'batched'}"
                print(f"{label + f', {workers} worker(s)':<44} {rate:>12.0f} ev/s")
    if pg:
        drop_postgres(pg)


def ingest_rate(
    work: Path, port: int, db_url: str, count: int, workers: int, per_message: int
) -> float:
    """Workers online, `mosquitto_pub -l` sending `count` events as fast as the broker
    takes them (far faster than ingest, see the drain reference): timed until the last
    event is committed."""
    group = uuid.uuid4().hex[:6]
    services = [
        CentralService(f"mqtt://127.0.0.1:{port}", db_url, worker_id=f"{group}-{n}")
        for n in range(workers)
    ]
    for service in services:
        service.start()
        wait(service.link.connected.is_set, "centre connected")
    lines = events_file(work, count, per_message)
    started = time.perf_counter()
    publish_lines(lines, port, StoreTopics("retail/v1", "bench-store").events)
    # Bounded by progress, not by a fixed time: with no store behind these events,
    # nothing resends one the broker lost, so the run ends when nothing moves for 15 s.
    done = wait_for_progress(lambda: sum(s.counters.inserted for s in services), count)
    rate = done / (time.perf_counter() - started)
    if done < count:
        print(f"  (only {done} of {count} were written before progress stopped for 15 s)")
    for service in services:
        service.stop()
    return rate


def events_file(work: Path, count: int, per_message: int = 1) -> Path:
    """`count` distinct events from one new device, one message per line: a single
    event, or a batch (JSON array) of `per_message` events."""
    source = f"/stores/bench-store/devices/{uuid.uuid4().hex[:6]}"
    path = work / f"events-{uuid.uuid4().hex[:6]}.txt"
    events = (
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": source,
            "type": "scan.recorded",
            "time": "2026-11-24T08:00:00.000000Z",
            "sequence": str(seq),
            "dataschema": "urn:edge-agent:schema:scan.recorded:1",
            "data": scan_data(seq),
        }
        for seq in range(1, count + 1)
    )
    with path.open("w", encoding="utf-8") as out:
        while chunk := list(itertools.islice(events, per_message)):
            out.write(json.dumps(chunk[0] if per_message == 1 else chunk) + "\n")
    return path


def fill_outbox(ctx: AgentContext, count: int) -> None:
    for n in range(count):
        with ctx.store.transaction() as db:
            append_event(
                db,
                ctx.origin,
                "scan.recorded",
                None,
                scan_data(n),
                ctx.clock(),
            )


def scan_data(n: int) -> dict[str, object]:
    """A valid `scan.recorded` payload (the centre checks every event against its schema)."""
    return {"source": "lane-1", "symbology": "]E0", "kind": "gtin", "outcome": "product",
            "value": f"{n:013d}", "scanned_at": "2026-11-24T08:00:00.000000Z"}  # fmt: skip


def agent_config(data_dir: Path, port: int) -> Config:
    return Config(
        paths=PathSettings(data_dir=data_dir),
        sync=SyncSettings(broker_url=f"mqtt://127.0.0.1:{port}"),
    ).model_copy(update={"store": Config().store.model_copy(update={"id": "bench-store"})})


def backlog(ctx: AgentContext) -> int:
    return ctx.store.db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]


def start_broker(directory: Path) -> tuple[int, subprocess.Popen[bytes]]:
    directory.mkdir(parents=True)
    port = free_server_port()
    conf = directory / "mosquitto.conf"
    # The shipped broker settings (its queue holds the ingest burst from mosquitto_pub,
    # which has no store behind it to resend), plus a loopback listener of our own.
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
        f"persistence_location {directory}/\n" + BROKER_CONF.read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
    wait(lambda: _accepting(port), "mosquitto")
    return port, proc


def _accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_database() -> str | None:
    try:
        import psycopg

        name = f"bench_central_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        return f"postgresql://postgres@127.0.0.1:5432/{name}"
    except Exception as exc:
        print(f"(PostgreSQL not reachable, ingest measured on SQLite only: {exc})")
        return None


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        # Everything, the migrations' record included: each run starts from an empty
        # database and its worker migrates it, as a new deployment would.
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def drop_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def wait_for_progress(progress, target: int, stall_seconds: float = 15) -> int:  # type: ignore[no-untyped-def]
    """Poll `progress()` until it reaches `target` or stops moving; return the last value."""
    last, last_change = progress(), time.monotonic()
    while last < target and time.monotonic() - last_change < stall_seconds:
        time.sleep(0.05)
        value = progress()
        if value != last:
            last, last_change = value, time.monotonic()
    return last


def wait(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"bench_sync: timed out waiting for {what}")
        time.sleep(0.01)


def publish_lines(lines: Path, port: int, topic: str) -> None:
    """One QoS 1 message per line of `lines`, by mosquitto_pub -l (the reference client),
    one run per MOSQUITTO_PUB_MAX_LINES lines."""
    with lines.open("rb") as source:
        while chunk := list(itertools.islice(source, MOSQUITTO_PUB_MAX_LINES)):
            subprocess.run(
                # A client id of its own: the shipped broker config refuses empty ones.
                [
                    "mosquitto_pub",
                    "-i",
                    f"bench-pub-{uuid.uuid4().hex[:8]}",
                    "-h",
                    "127.0.0.1",
                    *("-p", str(port), "-q", "1", "-l", "-t", topic),
                ],
                input=b"".join(chunk),
                check=True,
            )


if __name__ == "__main__":
    main()
