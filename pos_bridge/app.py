"""The Flask app factory: puts the till API, screens, health and metrics on one app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify

from edge_agent.context import AgentContext
from edge_agent.scans import ScanDispatcher, ScanOutcome
from edge_agent.wallet_setup import agent_pass_verifier, load_rotating_secret
from pos_bridge import wiring
from pos_bridge.api import api
from pos_bridge.conflicts_api import conflicts_api
from pos_bridge.devices import devices_api
from pos_bridge.errors import register_error_handlers
from pos_bridge.health import install_health
from pos_bridge.json import DomainJSONProvider
from pos_bridge.metrics import install_metrics
from pos_bridge.openapi import openapi_document
from pos_bridge.passes_api import passes_api
from pos_bridge.screens import install_screens
from pos_bridge.stock_api import stock_api
from pos_bridge.throttle import new_throttles
from pos_bridge.till_api import till_api
from pos_bridge.till_events import TillEventHub, identified_event


def create_app(
    ctx: AgentContext,
    dispatcher: ScanDispatcher,
    sync_status: Callable[[], dict[str, Any]] | None = None,
) -> Flask:
    app = Flask(__name__)
    app.json = DomainJSONProvider(app)
    wiring.install_agent(app, ctx, dispatcher)
    register_error_handlers(app)
    install_metrics(app, ctx)
    wiring.install_throttles(app, new_throttles())
    app.register_blueprint(api)
    app.register_blueprint(till_api)
    app.register_blueprint(conflicts_api)
    app.register_blueprint(stock_api)
    app.register_blueprint(passes_api)
    wiring.install_pass_checks(app, agent_pass_verifier(ctx), load_rotating_secret(ctx.config))
    install_screens(app, ctx)
    events = TillEventHub()
    wiring.install_till_events(app, events)

    def _push_identification(outcome: ScanOutcome) -> None:
        if outcome.customer is not None:
            events.publish(outcome.source, identified_event(outcome.customer, outcome.source))

    dispatcher.add_listener(_push_identification)

    @app.get("/api/v1/openapi.json")
    def openapi() -> Any:
        return jsonify(openapi_document())

    app.register_blueprint(devices_api)

    install_health(app, ctx, dispatcher, sync_status)
    return app
