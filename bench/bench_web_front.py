"""The till under hostile clients, through the production web front:

- quiet: `GET /api/v1/orders/<n>` one after another, p50/p99 (the reference);
- slow clients: the same while 16 sockets trickle headers or bodies (a line or a byte
  every 2 s, reconnecting when dropped);
- slow clients and 16 till screens: the same with 16 SSE streams open as well;
- sign-in timing: a PIN checked for an unknown staff id against one for a known id with
  a wrong PIN (the use case itself; equal times tell an attacker nothing);
- for contrast, cheroot (the previous server, 8 threads): quiet p50/p99 against the web
  front's quiet figures (what reading requests in asyncio costs), and how many till
  requests fail within 2 s under 8 slow sockets.

Run: `.venv/bin/python -m bench.bench_web_front` (`--quick` for fewer samples).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from cheroot.wsgi import Server as CherootServer

from bench.stats import percentile, report
from edge_agent.config import Config, PathSettings, WebSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import seed_store
from edge_agent.staff import Unauthorized, add_staff, check_pin, create_api_key
from pos_bridge.app import create_app
from pos_bridge.web_front import WebFront

SLOW_SOCKETS = 16
TRICKLE_SECONDS = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    samples = 200 if args.quick else 1000
    with tempfile.TemporaryDirectory(prefix="bench-web-front-") as tmp:
        config = Config(paths=PathSettings(data_dir=Path(tmp)), scanners=())
        ctx = open_agent(config)
        seed_store(ctx, customers=500, orders=5000, seed=3)
        numbers = [r[0] for r in ctx.store.db.execute("SELECT number FROM orders LIMIT 200")]
        key = create_api_key(ctx, "bench", "cashier")
        dispatcher = ScanDispatcher(ctx)
        dispatcher.start()
        app = create_app(ctx, dispatcher)
        try:
            front = WebFront(app, WebSettings(host="127.0.0.1", port=0, threads=8))
            front.start()
            try:
                quiet = run(front.url, key, numbers, samples)
            finally:
                front.stop()
            contrast_cheroot(app, key, numbers, samples, quiet)
            sign_in_timing(ctx, 20 if args.quick else 60)
        finally:
            dispatcher.stop()
            ctx.store.close()


def run(url: str, key: str, numbers: list[str], samples: int) -> list[float]:
    quiet, _ = till_latencies(url, key, numbers, samples)
    with slow_clients(url, SLOW_SOCKETS):
        attacked, failed = till_latencies(url, key, numbers, samples)
        with screens(url, key, 16):
            with_screens, failed_screens = till_latencies(url, key, numbers, samples)
    ms = 1000.0
    for name, ours in (
        ("under 16 slow clients", attacked),
        ("slow clients + 16 SSE", with_screens),
    ):
        print(report(f"till look-up p50, {name}", percentile(ours, 50) * ms,
                     percentile(quiet, 50) * ms, "ms"))  # fmt: skip
        print(report(f"till look-up p99, {name}", percentile(ours, 99) * ms,
                     percentile(quiet, 99) * ms, "ms"))  # fmt: skip
    print(f"till requests failed: {failed} of {samples} (slow clients), "
          f"{failed_screens} of {samples} (slow clients + SSE)")  # fmt: skip
    return quiet


def contrast_cheroot(
    app: Callable, key: str, numbers: list[str], samples: int, front_quiet: list[float]
) -> None:
    server = CherootServer(("127.0.0.1", 0), app, numthreads=8)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    url = "http://{}:{}".format(*server.bind_addr[:2])
    try:
        quiet, _ = till_latencies(url, key, numbers, samples)
        for q in (50, 99):
            print(report(f"web front quiet p{q} vs cheroot quiet", percentile(front_quiet, q)
                         * 1000, percentile(quiet, q) * 1000, "ms"))  # fmt: skip
        with slow_clients(url, 8):
            time.sleep(1)
            _, failed = till_latencies(url, key, numbers, 20, timeout=2.0)
        print(f"cheroot (8 threads) under 8 slow clients: {failed} of 20 till requests failed")
    finally:
        server.stop()


def sign_in_timing(ctx: AgentContext, samples: int) -> None:
    add_staff(ctx, "bench-ana", "Ana", "cashier", "1234")
    logging.getLogger("edge_agent.staff").setLevel(logging.ERROR)  # every try is refused
    unknown: list[float] = []
    known: list[float] = []
    for _ in range(samples):
        for staff_id, times in (("nobody-here", unknown), ("bench-ana", known)):
            with ctx.store.transaction() as db:  # no lock-out in the way of measuring
                db.execute("UPDATE staff SET failed_attempts = 0, locked_until = NULL")
            started = time.perf_counter()
            with contextlib.suppress(Unauthorized):
                check_pin(ctx, staff_id, "9999", None)
            times.append(time.perf_counter() - started)
    print(report("sign-in p50: unknown id vs known id, wrong PIN",
                 percentile(unknown, 50) * 1000, percentile(known, 50) * 1000, "ms"))  # fmt: skip


def till_latencies(
    url: str, key: str, numbers: list[str], samples: int, timeout: float = 10.0
) -> tuple[list[float], int]:
    latencies: list[float] = []
    failed = 0
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {key}"
        for i in range(samples):
            started = time.perf_counter()
            try:
                ok = http.get(f"{url}/api/v1/orders/{numbers[i % len(numbers)]}",
                              timeout=timeout).status_code == 200  # fmt: skip
            except requests.RequestException:
                ok = False
            latencies.append(time.perf_counter() - started)
            failed += not ok
    return latencies, failed


@contextmanager
def slow_clients(url: str, count: int) -> Iterator[None]:
    host, port = url.removeprefix("http://").split(":")
    stop = threading.Event()

    def trickle(body: bool) -> None:
        while not stop.is_set():
            try:
                with socket.create_connection((host, int(port)), timeout=5) as sock:
                    head = b"POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: x\r\n"
                    if body:
                        head += b"Content-Type: application/json\r\nContent-Length: 9999\r\n\r\n"
                    sock.sendall(head)
                    while not stop.wait(TRICKLE_SECONDS):
                        sock.sendall(b"{" if body else b"X-Slow: 1\r\n")
            except OSError:
                stop.wait(0.1)

    threads = [threading.Thread(target=trickle, args=(i % 2 == 1,), daemon=True)
               for i in range(count)]  # fmt: skip
    for t in threads:
        t.start()
    time.sleep(0.5)
    try:
        yield
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)


@contextmanager
def screens(url: str, key: str, count: int) -> Iterator[None]:
    streams = [
        requests.get(f"{url}/api/v1/tills/lane-{i}/events", stream=True, timeout=10,
                     headers={"Authorization": f"Bearer {key}"})
        for i in range(count)
    ]  # fmt: skip
    try:
        assert all(s.status_code == 200 for s in streams)
        yield
    finally:
        for s in streams:
            s.close()


if __name__ == "__main__":
    main()
