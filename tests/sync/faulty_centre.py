"""`edge-central` with one part made to die, as a bug or a library fault would kill it:
`python -m tests.sync.faulty_centre PART -- <edge-central arguments>`.

- ingest: the ingest loop raises after taking its third batch off the queue (those
  messages are never committed nor acked);
- lookups: the look-up thread raises a second after it started;
- broker: paho's network thread raises on the first PUBACK (for the worker's first ack);
- stock: the stock flusher's thread raises a second after it started.
"""

from __future__ import annotations

import sys
import time

from sync.central.cli import main
from sync.central.lookups import LookupResponder
from sync.central.service import CentralService
from sync.central.stock_flusher import StockFlusher
from sync.link import MqttLink

BATCHES_BEFORE_DYING = 3


def break_ingest() -> None:
    take = CentralService._next_batch
    taken = [0]

    def next_batch(self: CentralService) -> list:
        batch = take(self)
        taken[0] += bool(batch)
        if taken[0] >= BATCHES_BEFORE_DYING:
            raise RuntimeError("injected fault: the ingest loop hit a bug")
        return batch

    CentralService._next_batch = next_batch  # type: ignore[method-assign]


def break_lookups() -> None:
    def run(self: LookupResponder) -> None:
        self.part.ready.set()
        time.sleep(1.0)
        raise RuntimeError("injected fault: the look-up thread hit a bug")

    LookupResponder._run = run  # type: ignore[method-assign]


def break_stock_flusher() -> None:
    def run(self: StockFlusher) -> None:
        self.part.ready.set()
        time.sleep(1.0)
        raise RuntimeError("injected fault: the stock flusher hit a bug")

    StockFlusher._run = run  # type: ignore[method-assign]


def break_network_thread() -> None:
    def on_puback(self: MqttLink, *args: object) -> None:
        raise RuntimeError("injected fault: paho's network thread hit a bug")

    MqttLink._handle_publish = on_puback  # type: ignore[method-assign]


if __name__ == "__main__":
    part, separator, *args = sys.argv[1:]
    assert separator == "--"
    {"ingest": break_ingest, "lookups": break_lookups, "broker": break_network_thread,
     "stock": break_stock_flusher}[part]()  # fmt: skip
    main(args, prog_name="edge-central")
