"""The inventory system's stream of stock changes: `POST /stock/changes` on the centre's
web server (`edge-central web`).

A batch carries levels (`quantity`: the figure now) and movements (`delta`: a sale is -1)
per store and GTIN, and a `batch_id` the sender chooses: a batch sent again (a retry
after a timeout) is applied once and answered `duplicate: true`. The stores hear of it
with their next coalesced levels (each worker's stock flusher, every few seconds).

Authenticated with a bearer token shared with the inventory system
(`EDGE_CENTRAL_STOCK_TOKEN`); without one configured the endpoint refuses everything.
Errors are `{"error": {"code", "message"}}` like everywhere else.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from werkzeug.exceptions import HTTPException

from sync.central.db import CentralDb
from sync.central.stock import apply_stream
from sync.central.stockfile import MAX_QUANTITY, STORE_ID, valid_gtin
from sync.protocol.changes import first_error
from sync.protocol.clock import iso_now, to_iso

# A batch is what one POST may carry: a busy store's minute of sales fits many times.
MAX_CHANGES = 5000
# ~100 bytes a change; the body limit refuses anything bigger before it is parsed.
MAX_BODY_BYTES = 2 * 1024 * 1024


class StockChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    store_id: str = Field(pattern=STORE_ID.pattern)
    gtin: str = Field(pattern=r"^(\d{8}|\d{12,14})$")
    quantity: int | None = Field(None, ge=0, le=MAX_QUANTITY)
    delta: int | None = Field(None, ge=-MAX_QUANTITY, le=MAX_QUANTITY)
    as_of: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_figure(self) -> StockChange:
        if (self.quantity is None) == (self.delta is None):
            raise ValueError("give either quantity (the level now) or delta (a movement)")
        if not valid_gtin(self.gtin):
            raise ValueError(f"gtin {self.gtin} has a wrong check digit")
        return self


class StockBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
    changes: list[StockChange] = Field(min_length=1, max_length=MAX_CHANGES)


class BatchApplied(BaseModel):
    batch_id: str
    changes: int
    levels_moved: int
    duplicate: bool


def stock_blueprint(db_url: str, token: str | None) -> Blueprint:
    stock = Blueprint("stock", __name__)

    @stock.get("/openapi.json")
    def openapi() -> Any:
        return jsonify(openapi_document())

    @stock.post("/stock/changes")
    def changes() -> Any:
        if not token:
            return _error(
                503,
                "stock_stream_not_configured",
                "this centre takes no stock stream: set EDGE_CENTRAL_STOCK_TOKEN",
            )
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _error(401, "unauthorized", "a valid bearer token is required")
        if not request.is_json:
            return _error(415, "unsupported_media_type", "send application/json")
        body = request.get_json(silent=True)
        if body is None:
            return _error(400, "invalid_json", "the body is not valid JSON")
        try:
            batch = StockBatch.model_validate(body)
        except ValidationError as exc:
            return _error(422, "invalid_request", first_error(exc))
        levels = [(c.store_id, c.gtin, c.quantity, _time(c)) for c in batch.changes
                  if c.quantity is not None]  # fmt: skip
        deltas = [(c.store_id, c.gtin, c.delta, _time(c)) for c in batch.changes
                  if c.delta is not None]  # fmt: skip
        db = CentralDb(db_url)  # one per request: a connection belongs to its thread
        try:
            result = apply_stream(db, batch.batch_id, levels, deltas, iso_now())
        finally:
            db.close()
        applied = BatchApplied(
            batch_id=batch.batch_id,
            changes=result.rows,
            levels_moved=result.changed,
            duplicate=result.already_loaded,
        )
        return jsonify(applied.model_dump())

    return stock


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the centre's HTTP API for the retailer's systems,
    built from the models the endpoint validates with (served at /openapi.json)."""
    error = {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    ref = "#/components/schemas/{model}"
    schemas = {
        **StockBatch.model_json_schema(ref_template=ref).pop("$defs", {}),
        "StockBatch": _without_defs(StockBatch.model_json_schema(ref_template=ref)),
        "BatchApplied": BatchApplied.model_json_schema(ref_template=ref),
        "Error": error,
    }
    errors = {
        str(code): {"description": text, "content": _json_ref("Error")}
        for code, text in (
            (400, "not JSON"),
            (401, "no or wrong token"),
            (413, f"body over {MAX_BODY_BYTES} bytes"),
            (415, "not application/json"),
            (422, "a change that does not fit (the message names it)"),
            (503, "no token configured at the centre"),
        )
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "edge-central API for the retailer's systems", "version": "1"},
        "paths": {
            "/stock/changes": {
                "post": {
                    "operationId": "post_stock_changes",
                    "summary": "Stock levels and movements per store and GTIN, applied once "
                    "per batch_id; the stores get them coalesced within seconds",
                    "security": [{"bearer": []}],
                    "requestBody": {"required": True, "content": _json_ref("StockBatch")},
                    "responses": {
                        "200": {"description": "applied", "content": _json_ref("BatchApplied")},
                        **errors,
                    },
                }
            }
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def register_json_errors(app: Flask) -> None:
    """Flask's own errors (404, 405, 413) in the one error shape, too."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        code = (exc.name or "error").lower().replace(" ", "_")
        return _error(exc.code or 500, code, exc.description or exc.name or "error")


def _json_ref(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}


def _without_defs(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "$defs"}


def _time(change: StockChange) -> str | None:
    return to_iso(change.as_of) if change.as_of is not None else None


def _error(status: int, code: str, message: str) -> Any:
    return jsonify({"error": {"code": code, "message": message}}), status
