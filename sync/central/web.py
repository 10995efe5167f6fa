"""The centre's fleet status: which stores are online, their backlog and sequence gaps,
each device's history integrity and each subscriber's delivery, as JSON (`/fleet.json`),
as a plain page (`/fleet`) for ops, and as Prometheus metrics (`/metrics`)."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Flask, Response, jsonify, render_template_string, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sync.central.conflicts import open_conflicts_by_store
from sync.central.db import CentralDb
from sync.central.delivery.metrics import delivery_metrics
from sync.central.delivery.status import subscription_status
from sync.central.fleet import fleet_status
from sync.central.integrity import integrity_by_device, list_alarms
from sync.central.stock_api import register_json_errors, stock_blueprint
from sync.protocol.envelope import event_source

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fleet status</title>
<meta http-equiv="refresh" content="10">
<style>body{font-family:sans-serif}td,th{padding:.3em .8em;text-align:left}
.offline{color:#a00}.gap{color:#a60}</style></head>
<body><h1>Fleet status</h1>
<p>{{ online }} of {{ devices|length }} devices online.</p>
<table><tr><th>store</th><th>device</th><th>state</th><th>version</th><th>backlog</th>
<th>last seen (UTC)</th><th>received through</th><th>devices</th>
<th>open return conflicts</th><th>history</th></tr>
{% for d in devices %}<tr class="{{ d.state }}">
<td>{{ d.store_id }}</td><td>{{ d.device_id }}</td><td>{{ d.state }}</td>
<td>{{ d.version or "" }}</td><td>{{ "" if d.backlog is none else d.backlog }}</td>
<td>{{ d.last_seen }}</td>
<td{% if d.gap %} class="gap"{% endif %}>{{ d.received_through_seq }}{% if d.gap %}
(gap){% endif %}</td>
<td{% if d.device_problems %} class="gap"{% endif %}>{% if d.device_problems %}
{% for name in d.device_problems %}{{ name }}: {{ d.devices[name] }}<br>{% endfor %}
{% elif d.devices %}all {{ d.devices|length }} ok{% endif %}</td>
<td>{{ d.open_conflicts or "" }}</td>
<td{% if d.integrity.alarms %} class="gap"{% endif %}>{% if d.integrity.alarms %}
{{ d.integrity.alarms }} alarm(s), last {{ d.integrity.last_alarm }}{% elif
d.integrity.chained %}chained{% elif d.integrity.chained is false %}unchained{% endif %}</td>
</tr>{% endfor %}
</table>
<h2>Delivery to platforms</h2>
<table><tr><th>subscription</th><th>url</th><th>state</th><th>lag (events)</th>
<th>lag (s)</th><th>delivered</th><th>failures</th><th>failing devices</th>
<th>dead letters</th><th>last error</th></tr>
{% for s in subscriptions %}<tr>
<td>{{ s.id }}</td><td>{{ s.url }}</td><td>{{ s.state }}</td><td>{{ s.lag_events }}</td>
<td>{{ s.lag_seconds }}</td><td>{{ s.delivered }}</td><td>{{ s.failures }}</td>
<td{% if s.failing_devices %} class="gap"{% endif %}>{{ s.failing_devices }}</td>
<td{% if s.dead_letters %} class="gap"{% endif %}>{{ s.dead_letters }}</td>
<td>{{ s.last_error or "" }}</td></tr>{% endfor %}
</table>
{% if alarms %}<h2 class="offline">Integrity alarms</h2>
<table><tr><th>detected (UTC)</th><th>device</th><th>seq</th><th>kind</th><th>detail</th></tr>
{% for a in alarms %}<tr><td>{{ a.detected_at }}</td><td>{{ a.source }}</td><td>{{ a.seq }}</td>
<td>{{ a.kind }}</td><td>{{ a.detail }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>"""


def create_fleet_app(db_url: str, token: str = "", stock_token: str | None = None) -> Flask:
    """The fleet pages; they answer callers on this host, and others that send
    `Authorization: Bearer <token>` (no token: this host only). The inventory system's
    stock stream has its own token (`stock_token`; none: refused) and answers anywhere."""
    app = Flask(__name__)
    register_json_errors(app)
    app.register_blueprint(stock_blueprint(db_url, stock_token))

    @app.before_request
    def _ops_only() -> Any:
        if request.blueprint == "stock":
            return None  # the stock stream checks its own token
        if _is_loopback(request.remote_addr or "") or _bearer_matches(token):
            return None
        message = "the fleet view answers on this host, or with the operator token"
        return jsonify({"error": {"code": "ops_token_required", "message": message}}), 401

    def fleet() -> dict[str, Any]:
        db = CentralDb(db_url)  # one per request: a connection belongs to its thread
        try:
            db.create_schema()
            # Per store, on each of its devices: ops look down one column.
            conflicts = open_conflicts_by_store(db)
            integrity = integrity_by_device(db)
            devices = [
                {
                    **d,
                    "open_conflicts": conflicts.get(d["store_id"], 0),
                    "integrity": integrity.get(
                        event_source(d["store_id"], d["device_id"]),
                        {"chained": None, "alarms": 0, "last_alarm": None},
                    ),
                }
                for d in fleet_status(db)
            ]
            return {
                "devices": devices,
                "subscriptions": subscription_status(db),
                "alarms": list_alarms(db, limit=50),
            }
        finally:
            db.close()

    @app.get("/fleet.json")
    def fleet_json() -> Any:
        return jsonify(fleet())

    @app.get("/fleet")
    def fleet_page() -> Any:
        found = fleet()
        online = sum(1 for d in found["devices"] if d["state"] == "online")
        return render_template_string(PAGE, online=online, **found)

    @app.get("/metrics")
    def metrics() -> Any:
        db = CentralDb(db_url)
        try:
            db.create_schema()
            registry = CollectorRegistry()
            registry.register(_Collect(list(delivery_metrics(db))))
            return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
        finally:
            db.close()

    return app


class _Collect:
    """Families read once per scrape, handed to prometheus_client to render."""

    def __init__(self, families: list[Any]) -> None:
        self.families = families

    def collect(self) -> Any:
        return iter(self.families)


def _bearer_matches(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme == "Bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
