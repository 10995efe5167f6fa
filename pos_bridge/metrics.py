"""GET /metrics (Prometheus text format) and the request-latency hooks behind it."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily

from edge_agent.conflicts import open_conflict_count
from edge_agent.context import AgentContext
from edge_agent.outbox import outbox_stats
from pos_bridge import wiring
from pos_bridge.ops_access import require_ops


def install_metrics(app: Flask, ctx: AgentContext) -> None:
    metrics = ctx.metrics

    def outbox_gauges() -> Iterator[GaugeMetricFamily]:
        stats = outbox_stats(ctx.store.db)
        yield GaugeMetricFamily(
            "edge_agent_outbox_depth", "Events waiting for the centre's ack.", stats.depth
        )
        yield GaugeMetricFamily(
            "edge_agent_outbox_oldest_age_seconds",
            "Age of the oldest event not yet acknowledged by the centre (0 when empty).",
            stats.oldest_age_seconds or 0.0,
        )

    def store_gauges() -> Iterator[GaugeMetricFamily]:
        db = ctx.store.db
        jobs = GaugeMetricFamily(
            "edge_agent_print_jobs", "Print jobs on the device, by state.", labels=["state"]
        )
        if "print_jobs" in db.table_names():
            for state, count in db.execute("SELECT state, COUNT(*) FROM print_jobs GROUP BY state"):
                jobs.add_metric([state], count)
        yield jobs
        yield GaugeMetricFamily(
            "edge_agent_dead_letters",
            "Messages from the centre that could not be applied (edge-agent sync dead-letters).",
            db.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0],
        )
        yield GaugeMetricFamily(
            "edge_agent_return_conflicts_open",
            "Lines returned here and at another store for more than was bought, not yet"
            " resolved by a supervisor.",
            open_conflict_count(db),
        )
        link_up = app.extensions.get("link_up")
        yield GaugeMetricFamily(
            "edge_agent_sync_connected",
            "1 while the link to the centre is up, 0 while it is down or not configured.",
            1.0 if link_up is not None and link_up() else 0.0,
        )

    metrics.add_gauges(outbox_gauges)
    metrics.add_gauges(store_gauges)

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            # The route template, not the path: order numbers must not become labels.
            route = request.url_rule.rule if request.url_rule else "unmatched"
            method = metrics.method_label(request.method)
            metrics.requests.labels(method, route, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        require_ops(wiring.agent().config.web.ops_token)
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)
