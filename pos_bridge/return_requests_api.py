"""The till loads a kiosk return slip as a quote: `GET /api/v1/return-requests/<id>`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify

from edge_agent.return_requests import quote_return_request
from pos_bridge.auth import require
from pos_bridge.json import to_jsonable

return_requests_api = Blueprint("return_requests_api", __name__, url_prefix="/api/v1")


@return_requests_api.get("/return-requests/<code>")
@require("cashier")
def return_request_quote(code: str) -> Any:
    """The same shape as POST /api/v1/returns/quote, for the slip's order and lines."""
    online = bool(current_app.extensions.get("link_up", lambda: False)())
    quote = quote_return_request(current_app.extensions["edge_agent"], code, online=online)
    return jsonify({**to_jsonable(quote), "acceptable": quote.acceptable})
