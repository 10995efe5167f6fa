"""The till's REST API under /api/v1."""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge_agent.codes import CodeRules, classify_typed
from edge_agent.customers import (
    IdentifyQuery,
    identify_customer,
    identify_query,
    parse_query,
    search_customer_orders,
)
from edge_agent.orders import find_order, list_customer_orders
from edge_agent.scans import ScanOutcome
from hardware.scan import MAX_SCAN_CHARS, Scan
from pos_bridge.auth import require
from pos_bridge.errors import ApiError, error_response
from pos_bridge.params import CustomerPath, OrderPath, OrderSearchQuery, read_params
from pos_bridge.requests import read_body
from pos_bridge.responses import CustomerOrders, OrderSearch
from pos_bridge.till_events import identified_event
from pos_bridge.wiring import agent, centre_lookup, dispatcher, till_events

api = Blueprint("api", __name__, url_prefix="/api/v1")
# The till waits on a scan's answer; past this something is wrong and it should say so.
SCAN_ANSWER_TIMEOUT_SECONDS = 5.0
_SCAN_HTTP_STATUS = {"not_found": 404, "refused": 422}


_IDENTIFY_KEYS = ("query", "loyalty_id", "email", "phone")


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class IdentifyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": [k]} for k in _IDENTIFY_KEYS]},
    )
    # Absent, not null: a string field defaulting to None documents a string and refuses
    # an explicit null; the schema shows no default because absent is not a value.
    query: str = Field(None, min_length=1, max_length=254, json_schema_extra=_no_default)
    loyalty_id: str = Field(None, min_length=1, max_length=64, json_schema_extra=_no_default)
    email: str = Field(None, min_length=1, max_length=254, json_schema_extra=_no_default)
    phone: str = Field(None, min_length=1, max_length=32, json_schema_extra=_no_default)
    till_id: str = Field(None, min_length=1, max_length=64, json_schema_extra=_no_default)

    @model_validator(mode="after")
    def _exactly_one_key(self) -> IdentifyRequest:
        given = [k for k in _IDENTIFY_KEYS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of query, loyalty_id, email, phone")
        return self


class ScanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: str = Field(min_length=1, max_length=MAX_SCAN_CHARS)
    symbology: str | None = Field(None, max_length=8)
    source: str = Field("api", min_length=1, max_length=64)


@api.post("/customers/identify")
@require("cashier")
def identify() -> Any:
    body = read_body(IdentifyRequest)
    ctx = agent()
    if body.query:
        query = parse_query(ctx, body.query)
    elif body.loyalty_id:
        query = IdentifyQuery("loyalty_id", body.loyalty_id.strip())
    elif body.email:
        query = IdentifyQuery("email", body.email)
    else:
        query = IdentifyQuery("phone", body.phone or "")
    profile = identify_customer(ctx, query, channel="typed", source="api", till_id=body.till_id)
    if body.till_id:
        till_events().publish(body.till_id, identified_event(profile, "typed"))
    return jsonify(profile)


@api.get("/customers/<customer_id>/orders")
@require("cashier")
def customer_orders(customer_id: str) -> Any:
    read_params(CustomerPath)
    return jsonify(CustomerOrders(customer_id, list_customer_orders(agent(), customer_id)))


@api.get("/orders")
@require("cashier")
def order_search() -> Any:
    """Orders by order number, or by the customer's loyalty number, email or phone; what
    the cache lacks is asked of the centre when the link is up."""
    text = read_params(OrderSearchQuery).query
    ctx = agent()
    code = classify_typed(text, CodeRules.from_config(ctx.config))
    if code.kind == "order_number":
        order = find_order(ctx, code.value, centre_lookup())
        summaries = list_customer_orders(ctx, order.customer_id) if order.customer_id else ()
        found = tuple(s for s in summaries if s.number == order.number)
        return jsonify(OrderSearch(text, order.customer_id, found))
    customer_id, orders = search_customer_orders(ctx, identify_query(code), centre_lookup())
    return jsonify(OrderSearch(text, customer_id, orders))


@api.get("/orders/<number>")
@require("cashier")
def order(number: str) -> Any:
    read_params(OrderPath)
    return jsonify(find_order(agent(), number, centre_lookup()))


@api.post("/scans")
@require("cashier")
def scan() -> Any:
    body = read_body(ScanRequest)
    future = dispatcher().submit(
        Scan(data=body.data, symbology=body.symbology, source=body.source, at=datetime.now(UTC))
    )
    try:
        outcome: ScanOutcome = future.result(timeout=SCAN_ANSWER_TIMEOUT_SECONDS)
    except FutureTimeout:
        raise ApiError(
            503, "scan_timeout", "the scan was queued but not answered in time; check the till"
        ) from None
    status = _SCAN_HTTP_STATUS.get(outcome.status)
    if status is not None:
        code = "scan_refused" if outcome.status == "refused" else f"{outcome.kind}_not_found"
        return error_response(status, code, outcome.message)
    return jsonify(outcome)
