"""Look-up benchmarks at the till, against the 300 ms answer target:

- cache hit: `GET /api/v1/orders/<n>` for an order in the store's cache;
- centre fall-through: the same request for an order only the centre has (edge-central
  runs as its own process on SQLite, through a real Mosquitto), which then caches it;
  reference: a bare MQTT 5 request/response round trip through the same broker (QoS 0,
  an echo client answering at once), the floor any look-up over MQTT pays;
- timeout: the centre stopped, the link up: the till's answer comes at the deadline
  (`sync.lookup_timeout_ms`); and link down: the answer comes at once.

Run: `.venv/bin/python -m bench.bench_lookups` (`--quick` for fewer samples).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.bench_sync import start_broker, wait
from bench.stats import percentile, report
from edge_agent.config import Config, PathSettings, SyncSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.scans import ScanDispatcher
from edge_agent.staff import create_api_key
from pos_bridge.app import create_app
from sync.central.db import CentralDb
from sync.central.masterdata import load_records
from sync.central.masterfile import MasterRecords
from sync.link import BrokerSettings, Message, MqttLink
from sync.protocol.changes import CustomerUpserted, OrderUpserted
from sync.requester import Requester
from sync.service import SyncService

TARGET_MS = 300.0
STORE = "bench-store"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    samples = 100 if args.quick else 500
    with tempfile.TemporaryDirectory(prefix="bench-lookups-") as tmp:
        work = Path(tmp)
        port, broker = start_broker(work / "broker")
        try:
            run(work, port, samples)
        finally:
            broker.kill()
            broker.wait()


def run(work: Path, port: int, samples: int) -> None:
    db_url = f"sqlite://{work / 'central.sqlite3'}"
    numbers = load_master_data(db_url, samples * 2)
    central = start_central(port, db_url)
    ctx = open_agent(agent_config(work / "store", port))
    sync = SyncService(ctx)
    sync.start()
    dispatcher = ScanDispatcher(ctx)
    dispatcher.start()
    try:
        wait(sync.link.connected.is_set, "the store's link")
        client = till_client(ctx, sync)
        timeout_ms = ctx.config.sync.lookup_timeout_ms
        print(f"look-up benchmarks: {samples} samples each, deadline {timeout_ms} ms")
        reference = mqtt_round_trips(port, samples)
        fall = timed_gets(client, numbers[:samples], expect=200)
        hits = timed_gets(client, numbers[:samples], expect=200)  # cached by the run above
        for name, ms in (("centre fall-through", fall), ("cache hit", hits)):
            for q in (50, 99):
                print(report(f"{name} p{q} vs raw MQTT round trip", percentile(ms, q),
                             percentile(reference, q), "ms"))  # fmt: skip
        for name, ms in (("cache hit", hits), ("centre fall-through", fall)):
            print(report(f"{name} p99 vs 300 ms target", percentile(ms, 99), TARGET_MS, "ms"))
        central.terminate()
        central.wait(timeout=20)
        late = timed_gets(client, numbers[samples : samples + 20], expect=404)
        print(report("centre silent p99 vs 300 ms target", percentile(late, 99), TARGET_MS, "ms"))
        sync.link.stop()  # link down: nothing is asked
        offline = timed_gets(client, numbers[samples + 20 : samples + 40], expect=404)
        print(report("link down p99 vs 300 ms target", percentile(offline, 99), TARGET_MS, "ms"))
    finally:
        dispatcher.stop()
        sync.stop()
        if central.poll() is None:
            central.kill()
        ctx.store.close()


def timed_gets(client, numbers: list[str], expect: int) -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds per till request, the whole Flask request included."""
    times = []
    for number in numbers:
        started = time.perf_counter()
        response = client.get(f"/api/v1/orders/{number}")
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            raise SystemExit(f"{number}: expected {expect}, got {response.get_json()}")
    return times


def mqtt_round_trips(port: int, count: int) -> list[float]:
    """A request and its echoed answer through the broker, timed by the asker."""
    url = f"mqtt://127.0.0.1:{port}"
    request_topic, reply_topic = "bench/echo", "bench/echo/replies"

    def echo(message: Message) -> None:
        echoer.publish(message.response_topic or "", message.payload, qos=0,
                       correlation_data=message.correlation_data)  # fmt: skip

    echoer = MqttLink(BrokerSettings(url, "bench-echo", persistent_session=False),
                      [(request_topic, 0)], echo)  # fmt: skip
    asker = MqttLink(BrokerSettings(url, "bench-ask", persistent_session=False),
                     [(reply_topic, 0)], lambda m: requester.on_reply(m))  # fmt: skip
    requester = Requester(
        lambda t, p, r, c: asker.publish(t, p, qos=0, response_topic=r, correlation_data=c),
        asker.connected.is_set,
        request_topic,
        reply_topic,
    )
    echoer.start()
    asker.start()
    try:
        wait(lambda: echoer.connected.is_set() and asker.connected.is_set(), "echo links")
        time.sleep(0.3)  # subscriptions settle after the CONNACK
        payload = b'{"kind": "order", "number": "W000000000"}'
        times = []
        for _ in range(count):
            started = time.perf_counter()
            requester.ask(payload, timeout=5)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        asker.stop()
        echoer.stop()


def load_master_data(db_url: str, count: int) -> list[str]:
    customers = [
        CustomerUpserted(id=f"c{n}", first_name="Ana", last_name=f"N{n}",
                         loyalty_id=f"29{n:011d}")
        for n in range(count)
    ]  # fmt: skip
    orders = [
        OrderUpserted.model_validate({
            "number": f"W{n:09d}", "customer_id": f"c{n}", "fulfilment": "delivery",
            "status": "delivered", "placed_at": "2026-11-20T10:00:00Z",
            "fulfilled_at": "2026-11-22T10:00:00Z", "currency": "EUR", "total_minor": 5990,
            "payment_method": "card",
            "lines": [{"line_no": i, "gtin": "8400000000017", "sku": f"SKU-{i}",
                       "name": "Vestido", "size": "M", "quantity": 1,
                       "unit_price_minor": 1990} for i in (1, 2, 3)],
        })
        for n in range(count)
    ]  # fmt: skip
    db = CentralDb(db_url)
    try:
        db.create_schema()
        load_records(db, MasterRecords(customers, orders), "bench")
    finally:
        db.close()
    return [o.number for o in orders]


def start_central(port: int, db_url: str) -> subprocess.Popen[str]:
    central = subprocess.Popen(
        [str(Path(sys.executable).with_name("edge-central")), "run",
         "--broker", f"mqtt://127.0.0.1:{port}", "--db", db_url, "--worker-id", "bench"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert central.stdout is not None
    ready = threading.Event()
    threading.Thread(target=lambda: ready.set() if central.stdout.readline() else None).start()  # type: ignore[union-attr]
    if not ready.wait(30):
        raise SystemExit("edge-central did not start")
    time.sleep(0.3)  # its subscriptions settle after the CONNACK
    return central


def till_client(ctx: AgentContext, sync: SyncService):  # type: ignore[no-untyped-def]
    app = create_app(ctx, ScanDispatcher(ctx), sync.status_dict)
    app.extensions["link_up"] = sync.link_up
    app.extensions["centre_lookup"] = sync.centre_lookup
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_api_key(ctx, 'bench', 'cashier')}"
    return client


def agent_config(data_dir: Path, port: int) -> Config:
    return Config(
        paths=PathSettings(data_dir=data_dir),
        sync=SyncSettings(broker_url=f"mqtt://127.0.0.1:{port}"),
    ).model_copy(update={"store": Config().store.model_copy(update={"id": STORE})})


if __name__ == "__main__":
    main()
