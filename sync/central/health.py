"""A worker's `/healthz` (liveness and readiness: database, broker, each thread) and
`/metrics` (Prometheus), served on a port of its own (`edge-central run --http-port`).

- `/healthz`: 200 when the worker is ready (every thread runs, the database and the
  broker are reachable), else 503; the body says which check fails and why.
- `/healthz/live`: 200 while every thread runs, database or broker down or not. A
  liveness probe should use this one: restarting a worker does not bring PostgreSQL back.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify

from sync.central.errors import CentralError

if TYPE_CHECKING:
    from cheroot.wsgi import Server

    from sync.central.service import CentralService

log = logging.getLogger(__name__)


def health_report(service: CentralService) -> dict[str, Any]:
    states = service.parts.states()
    threads = {s.name: {"running": s.running, "ready": s.ready, "detail": s.detail} for s in states}
    by_name = {s.name: s for s in states}
    db_parts = [by_name["ingest"], by_name["lookups"]]
    database_ok = all(s.ready for s in db_parts)
    database = {
        "ok": database_ok,
        "detail": "reachable"
        if database_ok
        else "; ".join(f"{s.name}: {s.detail}" for s in db_parts if not s.ready),
    }
    connected = service.link.connected.is_set()
    broker = {
        "ok": connected,
        "detail": "connected" if connected else service.link.last_error or "connecting",
    }
    live = all(s.running and not s.detail.startswith("stalled") for s in states)
    ready = live and all(s.ready for s in states)
    return {
        "status": "ready" if ready else "live" if live else "failing",
        "live": live,
        "ready": ready,
        "checks": {"database": database, "broker": broker, "threads": threads},
    }


def create_health_app(service: CentralService) -> Flask:
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Any:
        report = health_report(service)
        return jsonify(report), 200 if report["ready"] else 503

    @app.get("/healthz/live")
    def live() -> Any:
        report = health_report(service)
        return jsonify(report), 200 if report["live"] else 503

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = service.metrics.exposition()
        return Response(body, content_type=content_type)

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Any:
        message = "try /healthz, /healthz/live or /metrics"
        return jsonify({"error": {"code": "not_found", "message": message}}), 404

    return app


class HealthServer:
    """The app on its own threads (cheroot), so a busy ingest never delays a probe."""

    def __init__(self, service: CentralService, host: str, port: int) -> None:
        from cheroot.wsgi import Server

        self._server: Server = Server((host, port), create_health_app(service), numthreads=2)
        try:
            self._server.prepare()  # binds now: a port in use fails at start, not later
        except OSError as exc:
            raise CentralError(f"cannot serve /healthz on {host}:{port}: {exc}") from None
        self.host, self.port = self._server.bind_addr[:2]
        self._thread = threading.Thread(target=self._server.serve, name="central-http", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
