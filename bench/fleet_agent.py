"""A real store agent for bench_fleet, in its own process (paho's select() loop must not
share a process with thousands of sockets): seeds a backlog, prints "ready", waits for a
line on stdin, then syncs like `edge-agent run` and prints
"done <seconds to fully acked> <events resent>" once its outbox is acked.

`python -m bench.fleet_agent DATA_DIR BROKER_URL STORE_ID EVENTS`
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from edge_agent.config import Config, PathSettings, SyncSettings
from edge_agent.context import open_agent
from edge_agent.outbox import append_event
from sync.service import SyncService

DONE_POLL_SECONDS = 0.05


def main(data_dir: str, broker_url: str, store_id: str, events: int) -> None:
    config = Config(
        paths=PathSettings(data_dir=Path(data_dir)),
        sync=SyncSettings(broker_url=broker_url),
    )
    config = config.model_copy(update={"store": config.store.model_copy(update={"id": store_id})})
    ctx = open_agent(config)
    with ctx.store.transaction() as db:
        for n in range(events):
            data = {"source": "lane-1", "symbology": "]E0", "kind": "gtin", "outcome": "product",
                    "value": f"{n:013d}", "scanned_at": "2026-11-24T08:00:00.000000Z"}  # fmt: skip
            append_event(db, ctx.origin, "scan.recorded", None, data, ctx.clock())
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    service = SyncService(ctx)
    service.start()
    while service.publisher.acked_total < events:
        time.sleep(DONE_POLL_SECONDS)
    print(f"done {time.monotonic() - started:.3f} {service.publisher.resent_total}", flush=True)
    sys.stdin.readline()  # stay connected, like a store, until the fleet is done
    service.stop()
    ctx.store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
