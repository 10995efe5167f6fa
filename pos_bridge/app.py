"""The Flask app factory: the till API, health, and one JSON error shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify

from edge_agent import __version__
from edge_agent.context import AgentContext
from edge_agent.errors import StoreError
from edge_agent.outbox import outbox_stats
from edge_agent.scans import ScanDispatcher
from pos_bridge.api import api
from pos_bridge.errors import register_error_handlers
from pos_bridge.json import DomainJSONProvider


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
    app.register_blueprint(api)

    @app.get("/healthz")
    def healthz() -> Any:
        checks: dict[str, Any] = {"dispatcher": "ok" if dispatcher.alive else "stopped"}
        body: dict[str, Any] = {"store_id": ctx.config.store.id, "version": __version__}
        try:
            stats = outbox_stats(ctx.store.db)
            checks["database"] = "ok"
            body["outbox"] = {"depth": stats.depth, "oldest_age_seconds": stats.oldest_age_seconds}
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
        body["status"] = "ok" if healthy else "failing"
        body["checks"] = checks
        return jsonify(body), 200 if healthy else 503

    return app
