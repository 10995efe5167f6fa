"""The agent's Prometheus metrics, on a registry of its own (no global state), so two
agents in one process (tests) never mix their counts. Served at /metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Till requests answer in milliseconds; the buckets resolve that range and flag the slow.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(frozen=True)
class AgentMetrics:
    registry: CollectorRegistry
    scans: Counter
    identifications: Counter
    requests: Histogram

    @classmethod
    def create(cls) -> AgentMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            registry=registry,
            scans=Counter(
                "edge_agent_scans",
                "Scans handled, by scanner, barcode kind and outcome.",
                ["source", "kind", "outcome"],
                registry=registry,
            ),
            identifications=Counter(
                "edge_agent_identifications",
                "Customers identified, by method (loyalty_id, email, phone, pass) and channel.",
                ["method", "channel"],
                registry=registry,
            ),
            requests=Histogram(
                "edge_agent_http_request_duration_seconds",
                "Time to answer HTTP requests, by method, route and status.",
                ["method", "route", "status"],
                buckets=REQUEST_BUCKETS,
                registry=registry,
            ),
        )

    def add_gauges(self, read: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
        """Gauges read at scrape time (outbox depth, print jobs...) from `read`."""
        self.registry.register(_ScrapeTimeCollector(read))


class _ScrapeTimeCollector(Collector):
    def __init__(self, read: Callable[[], Iterator[GaugeMetricFamily]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from self._read()

    def describe(self) -> list[Metric]:
        return []  # not known before a scrape; keeps registration from reading the store
