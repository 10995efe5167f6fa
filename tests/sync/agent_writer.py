"""A store agent process for the kill -9 tests: syncs, and (with --write) commits scan
events as fast as it can until it is killed. Prints "ready" once connected."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from edge_agent.context import open_agent
from edge_agent.outbox import append_event
from sync.service import SyncService
from tests.sync.conftest import scan_data, sync_config


def main(data_dir: str, broker_url: str, write: bool) -> None:
    ctx = open_agent(sync_config(Path(data_dir), broker_url))
    service = SyncService(ctx, ack_timeout_seconds=2.0)
    service.start()
    service.link.connected.wait(timeout=30)
    print("ready", flush=True)
    n = 0
    while True:
        if write:
            with ctx.store.transaction() as db:
                append_event(db, ctx.origin, "scan.recorded", None, scan_data(n), ctx.clock())
            n += 1
        else:
            time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--write" in sys.argv[3:])
