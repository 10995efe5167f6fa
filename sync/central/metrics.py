"""A worker's Prometheus metrics (`/metrics`): what it ingested, acked and refused, how
long a batch takes, how far behind each store the centre is, and whether each part runs.

Counts are read from the worker's own counters when scraped (one source of truth, no
second bookkeeping on the ingest path); only the batch latency histogram and the
per-store lag gauge are recorded as they happen. Each worker has its own registry (no
global state): several workers in one process (tests, benchmarks) do not mix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram
from prometheus_client import generate_latest as render
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from sync.central.supervision import Parts

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
        self.store_lag = Gauge(
            "edge_central_store_lag_seconds",
            "Per store: commit time minus the newest committed event's own time (the"
            " store's clock, so it includes that clock's skew).",
            ["store_id"],
            registry=self.registry,
        )
        self.registry.register(_Counts(counters, lookups, queued, parts))

    def committed(self, seconds: float, newest: dict[str, str], at: datetime) -> None:
        """One batch committed in `seconds`; `newest` is each store's newest event time."""
        self.batch_seconds.observe(seconds)
        for store_id, time in newest.items():
            try:
                lag = (at - datetime.fromisoformat(time)).total_seconds()
            except (ValueError, TypeError):
                continue  # a time the store wrote oddly is no reason to drop the rest
            self.store_lag.labels(store_id).set(lag)

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return render(self.registry), CONTENT_TYPE_LATEST


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
