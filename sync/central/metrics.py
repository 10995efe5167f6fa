"""A worker's Prometheus metrics (`/metrics`): what it ingested, acked and refused, how
long a batch takes, how far behind each store the centre is, and whether each part runs.

Counts are read from the worker's own counters when scraped (one source of truth, no
second bookkeeping on the ingest path); only the batch latency histogram and the
per-store lag are recorded as they happen. Each worker has its own registry (no
global state): several workers in one process (tests, benchmarks) do not mix.

A store's lag is shown only for `STORE_LAG_WINDOW_SECONDS` after this worker last
committed its events: the shared subscription deals a store's batches to any worker, so
an older figure is another worker's to give, and 5,000 stores' series kept forever would
show hours-old lags as current. Each series also carries the newest event's own time
(`..._newest_event_timestamp_seconds`): `time() - max by (store_id) (...)` over all
workers is the fleet-wide lag, and it grows while a store sends nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram
from prometheus_client import generate_latest as render
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from sync.central.supervision import Parts

STORE_LAG_WINDOW_SECONDS = 300.0
# From a single event's commit (a few ms) to a 4 MiB batch on a busy database.
BATCH_SECONDS_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class IngestCounters:
    """What one worker did since it started; the ingest thread writes, scrapes read."""

    inserted: int = 0
    duplicates: int = 0
    unreadable: int = 0
    rejected: int = 0
    replays: int = 0
    statuses: int = 0  # device status messages read, retained ones included
    statuses_retained: int = 0  # of them, retained ones fetched when a session began
    acks_sent: int = 0
    acks_unsent: int = 0  # committed, but the ack could not be handed to the broker


class CentreMetrics:
    def __init__(
        self,
        counters: IngestCounters,
        lookups: Callable[[], dict[str, int]],
        queued: Callable[[], int],
        parts: Parts,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.batch_seconds = Histogram(
            "edge_central_batch_seconds",
            "Time to write one batch of events and commit it, before its acks go out.",
            buckets=BATCH_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.store_lags = _StoreLags()
        self.registry.register(self.store_lags)
        self.registry.register(_Counts(counters, lookups, queued, parts))

    def committed(self, seconds: float, newest: dict[str, datetime], at: datetime) -> None:
        """One batch committed in `seconds`; `newest` is each store's newest event time."""
        self.batch_seconds.observe(seconds)
        for store_id, event_at in newest.items():
            self.store_lags.record(store_id, (at - event_at).total_seconds(), event_at.timestamp())

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return render(self.registry), CONTENT_TYPE_LATEST


class _StoreLags(Collector):
    """Per store: the lag at this worker's latest commit of its events, and that newest
    event's time, for as long as the commit is recent (see the module's note)."""

    def __init__(self, window_seconds: float = STORE_LAG_WINDOW_SECONDS) -> None:
        self.window_seconds = window_seconds
        self._lock = threading.Lock()
        # store -> (when committed, time.monotonic(); lag; newest event time, epoch)
        self._stores: dict[str, tuple[float, float, float]] = {}

    def record(self, store_id: str, lag: float, event_epoch: float) -> None:
        with self._lock:
            self._stores[store_id] = (time.monotonic(), lag, event_epoch)

    def collect(self) -> Iterable[Metric]:
        lag = GaugeMetricFamily(
            "edge_central_store_lag_seconds",
            "Per store: commit time minus the newest committed event's own time (the"
            " store's clock, so it includes that clock's skew), for stores this worker"
            " committed within the window.",
            labels=["store_id"],
        )
        newest = GaugeMetricFamily(
            "edge_central_store_newest_event_timestamp_seconds",
            "Per store: the own time of the newest event this worker committed, within the window.",
            labels=["store_id"],
        )
        cutoff = time.monotonic() - self.window_seconds
        with self._lock:
            for store_id in [k for k, v in self._stores.items() if v[0] < cutoff]:
                del self._stores[store_id]
            current = sorted(self._stores.items())
        for store_id, (_, seconds, epoch) in current:
            lag.add_metric([store_id], seconds)
            newest.add_metric([store_id], epoch)
        yield lag
        yield newest


class _Counts(Collector):
    def __init__(
        self,
        counters: IngestCounters,
        lookups: Callable[[], dict[str, int]],
        queued: Callable[[], int],
        parts: Parts,
    ) -> None:
        self._counters = counters
        self._lookups = lookups
        self._queued = queued
        self._parts = parts

    def collect(self) -> Iterable[Metric]:
        c = self._counters
        for name, value, text in (
            ("events_inserted", c.inserted, "Events written (first arrival)."),
            ("events_duplicate", c.duplicates, "Events that arrived again and changed nothing."),
            ("events_rejected", c.rejected, "Events refused (reason sent back, store parks)."),
            ("messages_unreadable", c.unreadable, "Messages with nothing to ack or park."),
            ("acks_sent", c.acks_sent, "Ack messages handed to the broker after a commit."),
            ("acks_unsent", c.acks_unsent, "Acks not sent (link down): the store resends."),
            ("replays", c.replays, "Change-feed replay requests answered."),
            ("statuses", c.statuses, "Device status messages recorded (newest kept)."),
            (
                "statuses_retained",
                c.statuses_retained,
                "Of them, retained ones fetched as the worker began a broker session.",
            ),
        ):
            yield CounterMetricFamily(f"edge_central_{name}", text, value=value)
        lookups = CounterMetricFamily(
            "edge_central_lookups", "Store look-ups, by outcome.", labels=["outcome"]
        )
        for outcome, value in self._lookups().items():
            lookups.add_metric([outcome], value)
        yield lookups
        yield GaugeMetricFamily(
            "edge_central_queued_messages",
            "Messages received and waiting for the ingest thread.",
            value=self._queued(),
        )
        up = GaugeMetricFamily(
            "edge_central_part_up", "1 while a part's thread runs and is ready.", labels=["part"]
        )
        for state in self._parts.states():
            up.add_metric([state.name], 1 if state.running and state.ready else 0)
        yield up
