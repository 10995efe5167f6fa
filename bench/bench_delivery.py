"""Delivery benchmarks: store events reaching the retailer's platforms.

- return to subscriber: a return confirmed at the till (the use case, store online)
  until the subscriber's HTTP endpoint has it, through the store's outbox drain, a real
  Mosquitto, `edge-central run` (its own process, SQLite) and its delivery threads;
  p50/p99 against the 1 s target;
- deliveries/s of one delivery worker (4 threads, one event per request, and batches
  of 100) to a local receiver (its own process), against a bare HTTP client (httpx, 4
  threads) posting the same signed bodies to the same receiver in the same run.

Run: `.venv/bin/python -m bench.bench_delivery` (`--quick` for fewer samples).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx
from cheroot.wsgi import Server

from bench.bench_sync import agent_config, scan_data, start_broker, wait
from bench.ports import free_server_port
from bench.stats import percentile, report
from edge_agent.context import open_agent
from edge_agent.returns import ReturnRequestLine, confirm_return
from edge_agent.seed import seed_store
from edge_agent.staff import Actor
from sync.central.db import CentralDb
from sync.central.delivery.subscriptions import (
    add_subscription,
    make_subscription,
    new_secret,
)
from sync.central.delivery.wire import StoredEvent, build_request
from sync.central.delivery.worker import DeliverySettings, DeliveryWorker
from sync.central.ingest import ingest_batch
from sync.protocol.batches import stamp_sequence
from sync.protocol.clock import to_iso, utc_now
from sync.protocol.envelope import build_event
from sync.service import SyncService

TARGET_SECONDS = 1.0
THREADS = 4
EDGE_CENTRAL = str(Path(sys.executable).with_name("edge-central"))
# A supervisor: several lines of one order add up past the cashier limit.
SUPERVISOR = Actor("bench", "supervisor", "staff", "lane-1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the receiver process
    args = parser.parse_args()
    if args.serve is not None:
        serve_counting(args.serve)
        return
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        work = Path(tmp)
        bench_return_latency(work, 50 if args.quick else 200)
        bench_throughput(work, 2000 if args.quick else 8000)


def bench_return_latency(work: Path, samples: int) -> None:
    port, broker = start_broker(work / "broker")
    db_url = f"sqlite://{work / 'latency.sqlite3'}"
    secret = new_secret()
    arrivals: dict[str, float] = {}
    receiver = _serve(_arrival_app(arrivals))
    central = None
    ctx = open_agent(agent_config(work / "store", port))
    try:
        seed_store(ctx, customers=200, orders=samples * 30, seed=3, now=utc_now())
        lines = returnable_lines(ctx, samples)
        db = CentralDb(db_url)
        db.create_schema()
        add_subscription(db, make_subscription(
            "bench", f"http://127.0.0.1:{receiver.bind_addr[1]}/", ["order.returned"], [],
            [secret], 1,
        ))  # fmt: skip
        db.close()
        central = subprocess.Popen(
            [EDGE_CENTRAL, "run", "--broker", f"mqtt://127.0.0.1:{port}", "--db", db_url,
             "--worker-id", "bench-latency", "--delivery-threads", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert central.stdout is not None
        if central.stdout.readline().strip() != "ready":
            raise SystemExit("edge-central did not start")
        sync = SyncService(ctx)
        sync.start()
        try:
            wait(sync.link.connected.is_set, "the store's link")
            seconds = []
            for number, line_no in lines:
                started = time.perf_counter()
                done = confirm_return(
                    ctx, number, [ReturnRequestLine(line_no, 1)], "original_payment",
                    actor=SUPERVISOR, online=True,
                )  # fmt: skip
                wait(lambda r=done.return_id: r in arrivals, "the return at the subscriber", 30)
                seconds.append(arrivals[done.return_id] - started)
        finally:
            sync.stop()
        print(f"delivery benchmarks: {len(seconds)} returns, one at a time, store online")
        for q in (50, 99):
            print(report(f"return at till -> subscriber p{q} vs 1 s target",
                         percentile(seconds, q), TARGET_SECONDS, "s"))  # fmt: skip
    finally:
        if central is not None:
            central.terminate()
            central.wait(timeout=20)
        receiver.stop()
        ctx.store.close()
        broker.kill()
        broker.wait()


def bench_throughput(work: Path, count: int) -> None:
    port = free_server_port()
    receiver = subprocess.Popen([sys.executable, "-m", "bench.bench_delivery", "--serve",
                                 str(port)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert receiver.stdout is not None
        receiver.stdout.readline()
        url = f"http://127.0.0.1:{port}/"
        secret = new_secret()
        events = central_events(count)
        reference = bare_client_rate(url, secret, events)
        print(f"delivery throughput: {count} events from 4 devices, {THREADS} threads each")
        for batch in (1, 100):
            ours = worker_rate(work, url, secret, count, batch)
            name = "deliveries/s, one worker" + (f", batches of {batch}" if batch > 1 else "")
            print(report(f"{name} vs bare HTTP client", ours, reference, "ev/s", "higher"))
    finally:
        receiver.terminate()
        receiver.wait(timeout=20)


def central_events(count: int) -> list[list[tuple[str, bytes]]]:
    """Ingest messages: 4 devices of one store, batches of 250 in sequence order."""
    messages = []
    per_device = count // 4
    for device in range(4):
        for first in range(1, per_device + 1, 250):
            texts = []
            for seq in range(first, min(first + 250, per_device + 1)):
                event = build_event(
                    event_type="scan.recorded", store_id="bench-store",
                    device_id=f"till-{device}", subject=None, data=scan_data(seq), at=utc_now(),
                )  # fmt: skip
                texts.append(stamp_sequence(json.dumps(event), seq))
            payload = ("[" + ",".join(texts) + "]").encode()
            messages.append([("retail/v1/stores/bench-store/events", payload)])
    return messages


def worker_rate(work: Path, url: str, secret: str, count: int, batch: int) -> float:
    db_url = f"sqlite://{work / f'throughput-{batch}.sqlite3'}"
    db = CentralDb(db_url)
    db.create_schema()
    for message in central_events(count):
        ingest_batch(db, "retail/v1", message)
    add_subscription(db, make_subscription("bench", url, ["*"], [], [secret], batch), True)
    worker = DeliveryWorker(db_url, "bench", DeliverySettings(threads=THREADS))
    started = time.perf_counter()
    worker.start()
    try:
        wait(lambda: delivered(db) >= count, "the worker's deliveries", 600)
        return count / (time.perf_counter() - started)
    finally:
        worker.stop()
        db.close()


def bare_client_rate(url: str, secret: str, messages: list[list[tuple[str, bytes]]]) -> float:
    """The same bodies, signed the same way beforehand, posted by plain httpx clients."""
    sub = make_subscription("bench", url, ["*"], [], [secret], 1)
    requests = []
    for message in messages:
        for element in json.loads(message[0][1]):
            text = json.dumps(element)
            event = StoredEvent(element["id"], int(element["sequence"]), element["type"], text)
            requests.append(build_request(sub, [event], batch=False))
    shares = [requests[n::THREADS] for n in range(THREADS)]

    def post(share) -> None:  # type: ignore[no-untyped-def]
        with httpx.Client(timeout=10) as client:
            for request in share:
                client.post(url, content=request.body, headers=request.headers)

    threads = [threading.Thread(target=post, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(requests) / (time.perf_counter() - started)


def delivered(db: CentralDb) -> int:
    return int(db.execute(
        "SELECT COALESCE(SUM(delivered_count), 0) FROM delivery_cursors"
    ).fetchone()[0])  # fmt: skip


def returnable_lines(ctx, count: int) -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    """Distinct order lines the till may take back now without a supervisor."""
    rows = ctx.store.db.execute(
        "SELECT o.number, l.line_no FROM orders o JOIN order_lines l ON l.order_id = o.id"
        " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
        " AND l.unit_price_minor <= 15000 ORDER BY o.id, l.line_no LIMIT ?",
        [to_iso(utc_now() - timedelta(days=25)), count],
    ).fetchall()
    if len(rows) < count:
        raise SystemExit(f"the seed gave {len(rows)} returnable lines, {count} needed")
    return [(r[0], r[1]) for r in rows]


def serve_counting(port: int) -> None:
    """The receiver process: takes every POST, answers 204, counts; GET gives the count."""
    count = 0
    lock = threading.Lock()

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        nonlocal count
        if environ["REQUEST_METHOD"] == "POST":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            with lock:
                count += 1
            start_response("204 No Content", [])
            return [b""]
        start_response("200 OK", [("content-type", "text/plain")])
        return [str(count).encode()]

    server = Server(("127.0.0.1", port), app, numthreads=8)
    server.prepare()
    print("ready", flush=True)
    server.serve()


def _arrival_app(arrivals: dict[str, float]):  # type: ignore[no-untyped-def]
    def app(environ, start_response):  # type: ignore[no-untyped-def]
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        arrivals[json.loads(body)["data"]["return_id"]] = time.perf_counter()
        start_response("204 No Content", [])
        return [b""]

    return app


def _serve(app) -> Server:  # type: ignore[no-untyped-def]
    server = Server(("127.0.0.1", 0), app, numthreads=4)
    server.prepare()
    threading.Thread(target=server.serve, daemon=True).start()
    return server


if __name__ == "__main__":
    main()
