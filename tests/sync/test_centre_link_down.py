"""A worker whose link drops between taking a batch and answering it: the replay it
cannot send is logged, not raised, and the rest of the batch (another store's replay
request, status messages) is still handled."""

from __future__ import annotations

import json
from pathlib import Path

from sync.central.db import CentralDb
from sync.central.fleet import fleet_status
from sync.central.service import CentralService
from sync.link import Message
from sync.protocol.topics import StoreTopics
from tests.sync.conftest import free_port


def status(store: str, device: str) -> Message:
    body = {"state": "online", "store_id": store, "device_id": device, "version": "1",
            "backlog": 0, "devices": {}}  # fmt: skip
    return Message(StoreTopics("retail/v1", store).status(device), json.dumps(body).encode(), True)


def resync(store: str) -> Message:
    request = {"from_sequence": 1, "limit": 20, "device_id": "till-1"}
    return Message(StoreTopics("retail/v1", store).resync, json.dumps(request).encode(), False)


def test_a_replay_with_the_link_down_leaves_the_rest_of_the_batch_handled(tmp_path: Path):
    db_url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    # Never connected: nobody listens on that port, so every publish fails.
    service = CentralService(f"mqtt://127.0.0.1:{free_port()}", db_url, worker_id="down")
    db = CentralDb(db_url)
    try:
        batch = [resync("store-a"), status("store-a", "till-1"), resync("store-b"),
                 status("store-b", "till-2")]  # fmt: skip
        service._handle(db, batch)
        assert service.counters.replays == 2  # both requests read, neither could go out
        seen = {(d["store_id"], d["device_id"]) for d in fleet_status(db)}
        assert seen == {("store-a", "till-1"), ("store-b", "till-2")}
    finally:
        db.close()
