"""Stock and selling what this store lacks, under /api/v1: a product's stock here and in
the other stores, sales and returns that move the stock here, and orders requested for
the identified customer (collect at another store, or delivered home)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, jsonify
from pydantic import BaseModel, ConfigDict, Field

from edge_agent.order_requests import WantedLine, request_order
from edge_agent.stock import product_stock, record_movements
from pos_bridge.auth import current_actor, require
from pos_bridge.params import ProductPath, read_params
from pos_bridge.requests import read_body
from pos_bridge.wiring import agent, centre_lookup

stock_api = Blueprint("stock_api", __name__, url_prefix="/api/v1")
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_GTIN = r"^(\d{8}|\d{12,14})$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GtinQuantity(_Body):
    gtin: str = Field(pattern=_GTIN)
    quantity: int = Field(ge=1, le=99)


class MovementRequest(_Body):
    reference: str = Field(pattern=_ID)
    reason: Literal["sale", "return"]
    lines: list[GtinQuantity] = Field(min_length=1, max_length=100)


class OrderRequestBody(_Body):
    customer_id: str = Field(pattern=_ID)
    fulfilment: Literal["click_and_collect", "delivery"]
    pickup_store_id: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    lines: list[GtinQuantity] = Field(min_length=1, max_length=20)


@stock_api.get("/products/<gtin>/stock")
@require("cashier")
def stock_of_product(gtin: str) -> Any:
    params = read_params(ProductPath)
    return jsonify(product_stock(agent(), params.gtin, centre_lookup()))


@stock_api.post("/stock/movements")
@require("cashier")
def stock_movement() -> Any:
    body = read_body(MovementRequest)
    lines = [(line.gtin, line.quantity) for line in body.lines]
    done = record_movements(agent(), body.reference, body.reason, lines, actor=current_actor())
    return jsonify(done), 201


@stock_api.post("/order-requests")
@require("cashier")
def order_request() -> Any:
    body = read_body(OrderRequestBody)
    lines = [WantedLine(line.gtin, line.quantity) for line in body.lines]
    requested = request_order(
        agent(),
        body.customer_id,
        body.fulfilment,
        body.pickup_store_id,
        lines,
        actor=current_actor(),
    )
    return jsonify(requested), 201
