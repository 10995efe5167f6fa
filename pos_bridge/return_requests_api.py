"""The till loads a kiosk return slip as a quote: `GET /api/v1/return-requests/<id>`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from edge_agent.return_requests import quote_return_request
from pos_bridge.auth import require
from pos_bridge.params import ReturnSlipPath, read_params
from pos_bridge.wiring import agent, link_up

return_requests_api = Blueprint("return_requests_api", __name__, url_prefix="/api/v1")


@return_requests_api.get("/return-requests/<code>")
@require("cashier")
def return_request_quote(code: str) -> Any:
    """The same shape as POST /api/v1/returns/quote, for the slip's order and lines."""
    read_params(ReturnSlipPath)
    return jsonify(quote_return_request(agent(), code, online=link_up()))
