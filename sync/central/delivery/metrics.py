"""Prometheus families for delivery and integrity, read from the database at scrape
time, so every worker's deliveries count wherever /metrics is served."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from sync.central.db import CentralDb
from sync.central.delivery.status import subscription_status
from sync.central.integrity import alarm_counts, integrity_by_device


def delivery_metrics(db: CentralDb) -> Iterator[Metric]:
    lag = GaugeMetricFamily(
        "edge_central_delivery_lag_events",
        "Events a subscriber wants that have arrived complete but are not delivered yet.",
        labels=["subscription"],
    )
    lag_seconds = GaugeMetricFamily(
        "edge_central_delivery_lag_seconds",
        "Age of the oldest such event (0 when none waits).",
        labels=["subscription"],
    )
    delivered = CounterMetricFamily(
        "edge_central_delivery_events", "Events delivered (2xx).", labels=["subscription"]
    )
    failures = CounterMetricFamily(
        "edge_central_delivery_failures",
        "Requests that failed and will be retried (5xx, timeouts, other non-2xx).",
        labels=["subscription"],
    )
    dead = GaugeMetricFamily(
        "edge_central_delivery_dead_letters",
        "Events a subscriber refused for good (400, 410, 413, 415, 422).",
        labels=["subscription"],
    )
    failing = GaugeMetricFamily(
        "edge_central_delivery_failing_devices",
        "Devices whose events wait for a retry to this subscriber.",
        labels=["subscription"],
    )
    for sub in subscription_status(db):
        labels = [sub["id"]]
        lag.add_metric(labels, sub["lag_events"])
        lag_seconds.add_metric(labels, sub["lag_seconds"])
        delivered.add_metric(labels, sub["delivered"])
        failures.add_metric(labels, sub["failures"])
        dead.add_metric(labels, sub["dead_letters"])
        failing.add_metric(labels, sub["failing_devices"])
    yield from (lag, lag_seconds, delivered, failures, dead, failing)
    alarms = CounterMetricFamily(
        "edge_central_integrity_alarms",
        "Devices' histories that do not hold together, by kind (sync.central.integrity).",
        labels=["kind"],
    )
    for kind, count in alarm_counts(db).items():
        alarms.add_metric([kind], count)
    yield alarms
    devices = integrity_by_device(db).values()
    yield GaugeMetricFamily(
        "edge_central_unchained_devices",
        "Devices whose newest event carries no hash chain (agents before the chain).",
        sum(1 for d in devices if not d["chained"]),
    )
