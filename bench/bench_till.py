"""Identify at the till with 100 k customers: through HTTP, and scan-to-screen through SSE.

- HTTP: `POST /api/v1/scans` with a loyalty card number, answered with the profile.
- SSE: a line written to the development scanner's TCP port until the till screen's
  event stream delivers `customer.identified` for it (the path a real scan takes).
Reference, same run: a raw indexed SQLite SELECT of the customer by loyalty number.
Target from the issue: p99 under 20 ms.

    .venv/bin/python -m bench.bench_till            # 100 k customers, 200 k orders
    .venv/bin/python -m bench.bench_till --quick    # 10 k customers
"""

from __future__ import annotations

import argparse
import contextlib
import random
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.stats import percentile, report
from edge_agent.config import Config, PathSettings, ScannerSettings, WebSettings
from edge_agent.context import open_agent
from edge_agent.daemon import start_agent
from edge_agent.seed import loyalty_id_for, seed_store
from edge_agent.staff import create_api_key

SAMPLES = 2000
WARM_UP = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    customers = 10_000 if args.quick else 100_000
    samples = 300 if args.quick else SAMPLES
    with tempfile.TemporaryDirectory(prefix="edge-bench-till-") as tmp:
        config = Config(
            paths=PathSettings(data_dir=Path(tmp)),
            web=WebSettings(port=0),
            scanners=(ScannerSettings(id="lane-1", url="tcp://127.0.0.1:0"),),
        )
        ctx = open_agent(config)
        print(f"seeding {customers:,} customers ...", flush=True)
        seed_store(ctx, customers=customers, orders=customers * 2, seed=2)
        key = create_api_key(ctx, "bench", "cashier")
        ctx.store.close()
        codes = [loyalty_id_for(random.randint(1, customers)) for _ in range(samples + WARM_UP)]
        raw = _raw_select(config.paths.database, codes)
        agent = start_agent(config)
        try:
            http = _http(agent.web_url, key, codes)
            sse = _scan_to_screen(agent, key, codes)
        finally:
            agent.stop()
    for q in (50, 99):
        print(report(f"identify via HTTP p{q} (ref: raw SELECT)", percentile(http, q) * 1e3,
                     percentile(raw, q) * 1e3, "ms"))  # fmt: skip
    for q in (50, 99):
        print(report(f"scan to till screen via SSE p{q} (ref: raw SELECT)",
                     percentile(sse, q) * 1e3, percentile(raw, q) * 1e3, "ms"))  # fmt: skip
    print(
        f"target: p99 under 20 ms; HTTP p99 {percentile(http, 99) * 1e3:.1f} ms, "
        f"SSE p99 {percentile(sse, 99) * 1e3:.1f} ms"
    )


def _raw_select(database: Path, codes: list[str]) -> list[float]:
    conn = sqlite3.connect(database)
    samples = []
    for code in codes[WARM_UP:]:
        started = time.perf_counter()
        conn.execute("SELECT * FROM customers WHERE loyalty_id = ?", [code]).fetchone()
        samples.append(time.perf_counter() - started)
    conn.close()
    return samples


def _http(url: str, key: str, codes: list[str]) -> list[float]:
    samples = []
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {key}"
        for i, code in enumerate(codes):
            started = time.perf_counter()
            response = session.post(f"{url}/api/v1/scans", json={"data": code}, timeout=5)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if i >= WARM_UP:
                samples.append(elapsed)
    return samples


def _scan_to_screen(agent, key: str, codes: list[str]) -> list[float]:
    received: dict[str, float] = {}
    arrived = threading.Condition()
    stream = requests.get(
        f"{agent.web_url}/api/v1/tills/lane-1/events",
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=30,
    )

    def listen() -> None:
        with contextlib.suppress(requests.RequestException, AttributeError, ValueError):
            _read(stream)

    def _read(stream) -> None:
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:") and '"customer_id"' in line:
                customer = line.split('"customer_id": "')[1].split('"')[0]
                with arrived:
                    received[customer] = time.perf_counter()
                    arrived.notify_all()

    threading.Thread(target=listen, daemon=True).start()
    host, port = agent.scanners[0].status()["address"].rsplit(":", 1)
    samples = []
    with socket.create_connection((host, int(port))) as scanner:
        reader = scanner.makefile("rb")
        for i, code in enumerate(codes):
            customer = f"C{int(code[2:12]):08d}"
            with arrived:
                received.pop(customer, None)
            started = time.perf_counter()
            scanner.sendall(code.encode() + b"\n")
            with arrived:
                arrived.wait_for(lambda c=customer: c in received, timeout=5)
                at = received.get(customer)
            reader.readline()  # the scanner's own one-line answer
            if at is None:
                raise RuntimeError(f"no event for {customer}")
            if i >= WARM_UP:
                samples.append(at - started)
    stream.close()
    return samples


if __name__ == "__main__":
    main()
