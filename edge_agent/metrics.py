"""The agent's Prometheus metrics, on a registry of its own (no global state), so two
agents in one process (tests) never mix their counts. Served at /metrics."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Till requests answer in milliseconds; the buckets resolve that range and flag the slow.
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Every label value comes from a fixed set: a value a client invents (an HTTP method, a
# scan's source) would otherwise add a series per request and grow /metrics without bound.
OTHER = "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Where scans come from besides the configured scanners.
BUILT_IN_SOURCES = frozenset({"api", "kiosk", "console"})
# Tills name themselves in a scan's source; the first this many names seen keep a label of
# their own (a store has a few tills), every later one counts as "other".
MAX_NAMED_SOURCES = 32


@dataclass(frozen=True)
class AgentMetrics:
    registry: CollectorRegistry
    scans: Counter
    identifications: Counter
    requests: Histogram
    # Scan sources reported by name: the configured scanners' ids, the built-in ones, and
    # the first MAX_NAMED_SOURCES others seen.
    scan_sources: frozenset[str] = BUILT_IN_SOURCES
    _seen_sources: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls, scanner_ids: Iterable[str] = ()) -> AgentMetrics:
        registry = CollectorRegistry(auto_describe=True)
        return cls(
            scan_sources=BUILT_IN_SOURCES | frozenset(scanner_ids),
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

    def source_label(self, source: str) -> str:
        if source in self.scan_sources:
            return source
        with self._lock:
            if source in self._seen_sources:
                return source
            if len(self._seen_sources) < MAX_NAMED_SOURCES:
                self._seen_sources.add(source)
                return source
        return OTHER

    @staticmethod
    def method_label(method: str) -> str:
        return method if method in HTTP_METHODS else OTHER

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
