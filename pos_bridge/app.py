"""The Flask app factory: the till API, health, and one JSON error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify

from edge_agent import __version__
from edge_agent.conflicts import open_conflict_count
from edge_agent.context import AgentContext
from edge_agent.errors import StoreError
from edge_agent.outbox import outbox_stats
from edge_agent.scans import ScanDispatcher, ScanOutcome
from edge_agent.wallet_setup import agent_pass_verifier, load_rotating_secret
from pos_bridge.api import api
from pos_bridge.conflicts_api import conflicts_api
from pos_bridge.devices import devices_api
from pos_bridge.errors import register_error_handlers
from pos_bridge.json import DomainJSONProvider
from pos_bridge.metrics import install_metrics
from pos_bridge.openapi import openapi_document
from pos_bridge.passes_api import passes_api
from pos_bridge.screens import install_screens
from pos_bridge.stock_api import stock_api
from pos_bridge.till_api import till_api
from pos_bridge.till_events import TillEventHub, identified_event
from wallet.apple.webservice import passkit_blueprint


def create_app(
    ctx: AgentContext,
    dispatcher: ScanDispatcher,
    sync_status: Callable[[], dict[str, Any]] | None = None,
) -> Flask:
    app = Flask(__name__)
    app.json = DomainJSONProvider(app)
    app.extensions["edge_agent"] = ctx
    app.extensions["scan_dispatcher"] = dispatcher
    register_error_handlers(app)
    install_metrics(app, ctx)
    app.register_blueprint(api)
    app.register_blueprint(till_api)
    app.register_blueprint(conflicts_api)
    app.register_blueprint(stock_api)
    app.register_blueprint(passes_api)
    app.register_blueprint(passkit_blueprint(lambda: ctx.store))
    app.extensions["pass_verifier"] = agent_pass_verifier(ctx)
    app.extensions["pass_rotating_secret"] = load_rotating_secret(ctx.config)
    install_screens(app, ctx)
    events = TillEventHub()
    app.extensions["till_events"] = events

    def _push_identification(outcome: ScanOutcome) -> None:
        if outcome.customer is not None:
            events.publish(outcome.source, identified_event(outcome.customer, outcome.source))

    dispatcher.add_listener(_push_identification)

    @app.get("/api/v1/openapi.json")
    def openapi() -> Any:
        return jsonify(openapi_document())

    app.register_blueprint(devices_api)

    @app.get("/healthz")
    def healthz() -> Any:
        checks: dict[str, Any] = {"dispatcher": "ok" if dispatcher.alive else "stopped"}
        body: dict[str, Any] = {"store_id": ctx.config.store.id, "version": __version__}
        stats = None
        try:
            stats = outbox_stats(ctx.store.db)
            checks["database"] = "ok"
            body["outbox"] = {"depth": stats.depth, "oldest_age_seconds": stats.oldest_age_seconds}
            # Not a health problem (the store works on), but staff must settle them.
            body["return_conflicts"] = {"open": open_conflict_count(ctx.store.db)}
        except (StoreError, OSError) as exc:
            checks["database"] = f"failing: {exc}"
        except Exception as exc:  # sqlite3 errors: the DB file is damaged or gone
            checks["database"] = f"failing: {exc}"
        # A link that is down is not a failure: the store works offline and events wait.
        if sync_status is None:
            checks["sync"] = "offline" if not ctx.config.sync.broker_url else "not_connected"
        else:
            try:
                body["sync"] = sync_status()
                checks["sync"] = body["sync"]["state"]
            except Exception as exc:  # the database is failing; reported above
                checks["sync"] = f"unknown: {exc}"
        healthy = checks["database"] == "ok" and checks["dispatcher"] == "ok"
        devices = app.extensions.get("devices")  # scanners/printers: degraded, never failing
        device_checks = devices.health_checks() if devices is not None else {}
        checks.update(device_checks)
        degraded = any(v != "ok" for v in device_checks.values())
        limit = ctx.config.sync.degraded_after_minutes * 60
        if ctx.config.sync.broker_url and stats and (stats.oldest_age_seconds or 0) > limit:
            waited = (stats.oldest_age_seconds or 0) / 60
            checks["sync_backlog"] = (
                f"degraded: {stats.depth} events waiting, the oldest for {waited:.0f} min"
            )
            degraded = True
        body["status"] = ("degraded" if degraded else "ok") if healthy else "failing"
        body["checks"] = checks
        return jsonify(body), 200 if healthy else 503

    return app
