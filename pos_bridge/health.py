"""`/healthz`: whether this agent can serve the till (database, scan dispatcher), and
what staff or ops should know without it being a failure (devices, sync backlog)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify

from edge_agent import __version__
from edge_agent.conflicts import open_conflict_count
from edge_agent.context import AgentContext
from edge_agent.errors import StoreError
from edge_agent.outbox import outbox_stats
from edge_agent.scans import ScanDispatcher
from pos_bridge import wiring
from pos_bridge.ops_access import ops_allowed


def install_health(
    app: Flask,
    ctx: AgentContext,
    dispatcher: ScanDispatcher,
    sync_status: Callable[[], dict[str, Any]] | None,
) -> None:
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
        devices = wiring.devices_of(app)  # scanners/printers: degraded, never failing
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
        status = 200 if healthy else 503
        if not ops_allowed(wiring.agent().config.web.ops_token):
            # Monitors elsewhere on the LAN learn up or down; the detail is for operators.
            return jsonify({"status": body["status"]}), status
        return jsonify(body), status
