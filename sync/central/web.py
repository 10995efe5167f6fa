"""The centre's fleet status: which stores are online, their backlog and sequence gaps,
as JSON (`/fleet.json`) and as a plain page (`/fleet`) for ops."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from flask import Flask, jsonify, render_template_string, request

from sync.central.conflicts import open_conflicts_by_store
from sync.central.db import CentralDb
from sync.central.service import fleet_status
from sync.central.stock_api import register_json_errors, stock_blueprint

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fleet status</title>
<meta http-equiv="refresh" content="10">
<style>body{font-family:sans-serif}td,th{padding:.3em .8em;text-align:left}
.offline{color:#a00}.gap{color:#a60}</style></head>
<body><h1>Fleet status</h1>
<p>{{ online }} of {{ devices|length }} devices online.</p>
<table><tr><th>store</th><th>device</th><th>state</th><th>version</th><th>backlog</th>
<th>last seen (UTC)</th><th>received through</th><th>devices</th>
<th>open return conflicts</th></tr>
{% for d in devices %}<tr class="{{ d.state }}">
<td>{{ d.store_id }}</td><td>{{ d.device_id }}</td><td>{{ d.state }}</td>
<td>{{ d.version or "" }}</td><td>{{ "" if d.backlog is none else d.backlog }}</td>
<td>{{ d.last_seen }}</td>
<td{% if d.gap %} class="gap"{% endif %}>{{ d.received_through_seq }}{% if d.gap %}
(gap){% endif %}</td>
<td{% if d.device_problems %} class="gap"{% endif %}>{% if d.device_problems %}
{% for name in d.device_problems %}{{ name }}: {{ d.devices[name] }}<br>{% endfor %}
{% elif d.devices %}all {{ d.devices|length }} ok{% endif %}</td>
<td>{{ d.open_conflicts or "" }}</td></tr>{% endfor %}
</table></body></html>"""


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

    def devices() -> list[dict[str, Any]]:
        db = CentralDb(db_url)  # one per request: a connection belongs to its thread
        try:
            db.create_schema()
            # Per store, on each of its devices: ops look down one column.
            conflicts = open_conflicts_by_store(db)
            return [
                {**d, "open_conflicts": conflicts.get(d["store_id"], 0)} for d in fleet_status(db)
            ]
        finally:
            db.close()

    @app.get("/fleet.json")
    def fleet_json() -> Any:
        return jsonify({"devices": devices()})

    @app.get("/fleet")
    def fleet_page() -> Any:
        found = devices()
        online = sum(1 for d in found if d["state"] == "online")
        return render_template_string(PAGE, devices=found, online=online)

    return app


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
