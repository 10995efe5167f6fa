"""Screen figures: what the kiosk and console pages cost beside the JSON API doing the
same work, through the real agent (its web front on loopback) over a seeded store.

Each page is printed beside a reference measured in the same run:
- kiosk card scan -> welcome page (POST /kiosk/scan + GET /kiosk/welcome) against the
  till's POST /api/v1/scans of the same cards;
- kiosk product page (scan + page) against POST /api/v1/scans of the same products;
- kiosk return slip page (quote + QR code + template) against the till's
  GET /api/v1/return-requests/<id> (the same quote as JSON);
- console customer profile page against POST /api/v1/customers/identify.

    .venv/bin/python -m bench.bench_ui            # 20 k customers, 100 k orders
    .venv/bin/python -m bench.bench_ui --quick    # 2 k customers, 10 k orders
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import requests

from bench.stats import percentile, report
from edge_agent.config import Config, PathSettings, WebSettings
from edge_agent.context import open_agent
from edge_agent.daemon import start_agent
from edge_agent.seed import seed_store
from edge_agent.staff import add_staff
from sync.protocol.clock import to_iso, utc_now

SLIPS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 k customers, 10 k orders")
    args = parser.parse_args()
    customers, orders, samples = (2_000, 10_000, 100) if args.quick else (20_000, 100_000, 500)
    with tempfile.TemporaryDirectory(prefix="edge-bench-ui-") as tmp:
        config = Config(
            paths=PathSettings(data_dir=Path(tmp) / "data"), web=WebSettings(port=0), scanners=()
        )
        print(f"seeding {customers:,} customers, {orders:,} orders ...", flush=True)
        ctx = open_agent(config)
        seed_store(ctx, customers=customers, orders=orders, seed=3, now=utc_now())
        add_staff(ctx, "bench", "Bench", "supervisor", "1234")
        rng = random.Random(5)
        db = ctx.store.db
        cards = [r[0] for r in db.execute("SELECT loyalty_id FROM customers").fetchall()]
        products = [r[0] for r in db.execute("SELECT gtin FROM products").fetchall()]
        returnable = db.execute(
            "SELECT c.loyalty_id, o.number FROM orders o JOIN customers c ON c.id = o.customer_id"
            " JOIN order_lines l ON l.order_id = o.id AND l.line_no = 1"
            " WHERE o.status = 'delivered' AND o.fulfilled_at > ? AND l.final_sale = 0"
            " AND l.returned_quantity = 0 LIMIT ?",
            [to_iso(utc_now().replace(microsecond=0) - _days(20)), SLIPS],
        ).fetchall()
        ctx.store.close()
        running = start_agent(config)
        try:
            _run(running.web_url, rng, cards, products, returnable, samples)
        finally:
            running.stop()


def _run(url, rng, cards, products, returnable, samples) -> None:
    api = requests.Session()
    token = api.post(f"{url}/api/v1/auth/sign-in", json={"staff_id": "bench", "pin": "1234"})
    api.headers["Authorization"] = f"Bearer {token.json()['token']}"
    kiosk = requests.Session()
    card_sample = [rng.choice(cards) for _ in range(samples)]
    product_sample = [rng.choice(products) for _ in range(samples)]

    def kiosk_card(card: str) -> None:
        _ok(kiosk.post(f"{url}/kiosk/scan", data={"code": card}))  # follows to /welcome

    def api_scan(code: str) -> None:
        _ok(api.post(f"{url}/api/v1/scans", json={"data": code}))

    def kiosk_product(gtin: str) -> None:
        _ok(kiosk.post(f"{url}/kiosk/scan", data={"code": gtin}))  # follows to the product

    def api_identify(card: str) -> None:
        _ok(api.post(f"{url}/api/v1/customers/identify", json={"loyalty_id": card}))

    console = requests.Session()
    _ok(console.post(f"{url}/console/sign-in", data={"staff_id": "bench", "pin": "1234"}))

    def console_profile(card: str) -> None:
        _ok(console.post(f"{url}/console/identify", data={"query": card}))  # follows to profile

    _compare("kiosk card scan -> welcome page (ref: API scan)", kiosk_card, api_scan, card_sample)
    _compare("kiosk product page (ref: API scan)", kiosk_product, api_scan, product_sample)
    _compare("console profile page (ref: API identify)", console_profile, api_identify,
             card_sample)  # fmt: skip
    # A slip page is shown only to the browser session that made it: one session each.
    slips: dict[str, requests.Session] = {}
    for card, number in returnable:
        browser = requests.Session()
        _ok(browser.post(f"{url}/kiosk/scan", data={"code": card}))
        made = _ok(browser.post(f"{url}/kiosk/returns/{number}", data={"qty_1": "1"}))
        slips[re.search(r"/kiosk/slips/([A-Za-z0-9_-]+)", made.url).group(1)] = browser
    if not slips:
        print("no returnable orders seeded: slip figures skipped")
        return
    slip_sample = [rng.choice(list(slips)) for _ in range(samples)]
    _compare(
        "kiosk return slip page with QR (ref: API quote)",
        lambda s: _ok(slips[s].get(f"{url}/kiosk/slips/{s}")),
        lambda s: _ok(api.get(f"{url}/api/v1/return-requests/{s}")),
        slip_sample,
    )


def _compare(name: str, ours: Callable[[str], None], ref: Callable[[str], None], items) -> None:
    for item in items[:10]:  # warm up both paths
        ours(item)
        ref(item)
    ours_ms, ref_ms = [], []
    for item in items:  # interleaved, so both see the same machine state
        ours_ms.append(_time(ours, item))
        ref_ms.append(_time(ref, item))
    for q in (50, 99):
        print(report(f"{name} p{q}", percentile(ours_ms, q), percentile(ref_ms, q), "ms"))


def _time(fn: Callable[[str], None], item: str) -> float:
    start = time.perf_counter()
    fn(item)
    return (time.perf_counter() - start) * 1000


def _ok(response: requests.Response) -> requests.Response:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.method} {response.url}: {response.status_code}")
    return response


def _days(n: int) -> timedelta:
    return timedelta(days=n)


if __name__ == "__main__":
    main()
