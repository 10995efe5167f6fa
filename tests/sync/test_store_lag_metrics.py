"""The per-store lag a worker exports lasts only its window: an older figure is
another worker's to give, or says the store is silent."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from sync.central.metrics import CentreMetrics, IngestCounters
from sync.central.supervision import Parts


def samples(metrics: CentreMetrics) -> dict[tuple[str, str], float]:
    text = metrics.exposition()[0].decode()
    return {
        (sample.name, sample.labels.get("store_id", "")): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if family.name.startswith("edge_central_store_")
    }


def test_a_stores_lag_is_shown_while_recent_then_cleared():
    metrics = CentreMetrics(IngestCounters(), dict, lambda: 0, Parts())
    now = datetime.now(UTC)
    metrics.committed(0.01, {"s1": now - timedelta(seconds=4)}, now)
    shown = samples(metrics)
    assert shown[("edge_central_store_lag_seconds", "s1")] == 4.0
    event_epoch = (now - timedelta(seconds=4)).timestamp()
    assert shown[("edge_central_store_newest_event_timestamp_seconds", "s1")] == event_epoch
    metrics.store_lags.window_seconds = 0.2
    time.sleep(0.3)
    metrics.committed(0.01, {"s3": now}, now)
    shown = samples(metrics)
    assert ("edge_central_store_lag_seconds", "s1") not in shown
    assert shown[("edge_central_store_lag_seconds", "s3")] == 0.0
