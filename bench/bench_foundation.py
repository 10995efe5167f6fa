"""Foundation figures: seed rate, cold start to /healthz, idle RSS, order look-up latency.

Each figure is printed beside a reference measured in the same run:
- seed rate against a raw `executemany` of the same order rows (no lines, no generation);
- look-up by number (use case, and HTTP through the real server) against a raw indexed
  `SELECT` of the order row by number on the same file;
- cold start and idle RSS of `edge-agent run` against a bare `python3` doing nothing.

    .venv/bin/python -m bench.bench_foundation            # 1 M orders (a few minutes)
    .venv/bin/python -m bench.bench_foundation --quick    # 50 k orders
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from bench.stats import percentile, report
from edge_agent.config import Config, PathSettings, ScannerSettings, WebSettings
from edge_agent.context import open_agent
from edge_agent.orders import find_order
from edge_agent.seed import order_number_for, seed_store

EDGE_AGENT = str(Path(sys.executable).with_name("edge-agent"))
LOOKUPS = 20_000
HTTP_LOOKUPS = 2_000
STARTS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 k orders instead of 1 M")
    parser.add_argument("--orders", type=int, default=None)
    args = parser.parse_args()
    orders = args.orders or (50_000 if args.quick else 1_000_000)
    customers = max(orders // 10, 100)
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        config = Config(
            paths=PathSettings(data_dir=data_dir),
            web=WebSettings(port=0),
            scanners=(ScannerSettings(id="dev-tcp", url="tcp://127.0.0.1:0"),),
        )
        print(f"seeding {orders:,} orders, {customers:,} customers ...", flush=True)
        ctx = open_agent(config)
        result = seed_store(ctx, customers=customers, orders=orders, seed=1)
        seed_rate = result.orders / result.seconds
        raw_rate = _raw_insert_rate(Path(tmp) / "raw.sqlite3", min(orders, 200_000))
        print(
            report("seed: orders/s (ref: raw executemany)", seed_rate, raw_rate, "ord/s", "higher")
        )

        numbers = [order_number_for(random.randint(1, orders)) for _ in range(LOOKUPS)]
        ours = _time_each(lambda n: find_order(ctx, n), numbers)
        ctx.store.close()
        raw = _raw_lookup_times(config.paths.database, numbers)
        for q in (50, 99):
            print(report(f"look-up by number p{q} (ref: raw SELECT)", percentile(ours, q) * 1e3,
                         percentile(raw, q) * 1e3, "ms"))  # fmt: skip

        env = {
            **os.environ,
            "EDGE_AGENT__PATHS__DATA_DIR": str(data_dir),
            "EDGE_AGENT__WEB__PORT": "0",
            "EDGE_AGENT__SCANNERS": "[]",
        }
        starts, rss, http = _agent_runs(env, numbers[:HTTP_LOOKUPS])
        bare_starts, bare_rss = _bare_python()
        print(report("cold start to /healthz 200, median", _median(starts) * 1e3,
                     _median(bare_starts) * 1e3, "ms"))  # fmt: skip
        print(report("idle RSS (ref: bare python3)", rss / 1024, bare_rss / 1024, "MiB"))
        for q in (50, 99):
            print(report(f"HTTP GET /api/v1/orders p{q} (ref: raw SELECT)",
                         percentile(http, q) * 1e3, percentile(raw, q) * 1e3, "ms"))  # fmt: skip
        size = config.paths.database.stat().st_size / 2**20
        print(f"database: {size:,.0f} MiB for {orders:,} orders ({result.order_lines:,} lines)")


def _time_each(fn, items) -> list[float]:
    samples = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        samples.append(time.perf_counter() - started)
    return samples


def _raw_lookup_times(database: Path, numbers: list[str]) -> list[float]:
    conn = sqlite3.connect(database)
    try:
        return _time_each(
            lambda n: conn.execute("SELECT * FROM orders WHERE number = ?", [n]).fetchone(),
            numbers,
        )
    finally:
        conn.close()


def _raw_insert_rate(path: Path, count: int) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, number TEXT UNIQUE, total INT)")
    rows = [(i, order_number_for(i), i * 3) for i in range(1, count + 1)]
    started = time.perf_counter()
    for start in range(0, count, 5000):
        with conn:
            conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", rows[start : start + 5000])
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def _agent_runs(env: dict[str, str], numbers: list[str]) -> tuple[list[float], int, list[float]]:
    starts: list[float] = []
    rss = 0
    http: list[float] = []
    for attempt in range(STARTS):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [EDGE_AGENT, "--log-level", "warning", "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            url = _wait_for_url(proc)
            while True:
                try:
                    if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.ConnectionError:
                    time.sleep(0.005)
            starts.append(time.perf_counter() - started)
            if attempt == 0:
                time.sleep(3)  # let start-up garbage settle before reading idle memory
                rss = _rss_kib(proc.pid)
                with requests.Session() as session:
                    http = _time_each(
                        lambda n, s=session, u=url: s.get(f"{u}/api/v1/orders/{n}", timeout=5),
                        numbers,
                    )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return starts, rss, http


def _wait_for_url(proc: subprocess.Popen) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if "health:" in line:
            return line.split()[-1].removesuffix("/healthz")
    raise RuntimeError("agent exited before it was ready")


def _bare_python() -> tuple[list[float], int]:
    starts = []
    for _ in range(STARTS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        starts.append(time.perf_counter() - started)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        time.sleep(1)
        return starts, _rss_kib(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


if __name__ == "__main__":
    main()
