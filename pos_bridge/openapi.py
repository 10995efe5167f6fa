"""The OpenAPI 3.1 document of the till API, served at /api/v1/openapi.json.

Built from the same types the views read and write: request bodies are the pydantic
models the views validate with, responses the dataclasses they return. Object schemas
forbid undocumented properties, so a test that validates every response catches a field
added to a view but not to its type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from edge_agent import __version__
from edge_agent.devices import DevicesStatus, PrintJobs
from edge_agent.domain import CustomerProfile, Order, RequestedOrder, ReturnConflict
from edge_agent.lists import ShoppingList
from edge_agent.loyalty import PointsAward, Redemption
from edge_agent.pickups import Pickup, PickupCheck
from edge_agent.printing import PrintJob
from edge_agent.returns import ConfirmedReturn, ReturnQuote
from edge_agent.scans import ScanOutcome
from edge_agent.stock import ProductStock, RecordedMovement
from pos_bridge import api, conflicts_api, passes_api, stock_api, till_api
from pos_bridge.params import (
    ConflictPath,
    CustomerPath,
    ListItemPath,
    ListPath,
    OrderPath,
    OrderSearchQuery,
    PrinterPath,
    PrintJobsParams,
    ProductPath,
    ReturnSlipPath,
    TillPath,
)
from pos_bridge.responses import (
    CustomerLists,
    CustomerOrders,
    ErrorBody,
    LoyaltyConflicts,
    OpenConflicts,
    OrderSearch,
    SignedIn,
    SignedOut,
)

REF = "#/components/schemas/{model}"
SSE = "text/event-stream"
RETRY_AFTER = {
    "description": "Seconds until the client may try again",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # Flask rule, e.g. /api/v1/orders/<number>
    summary: str
    body: type | None
    ok: tuple[int, type | str]  # status and response type (or a media type)
    errors: tuple[int, ...]
    auth: bool = True
    tags: tuple[str, ...] = field(default=("till",))
    # The model that validates the path and query parameters (pos_bridge.params): the
    # document shows its patterns, lengths and ranges.
    params: type[BaseModel] | None = None


_AUTH_ERRORS = (401, 403)
OPERATIONS: tuple[Operation, ...] = (
    Operation("post", "/api/v1/auth/sign-in", "Staff sign-in with a PIN", till_api.SignInRequest,
              (200, SignedIn), (400, 401, 415, 422, 423, 429), auth=False, tags=("staff",)),
    Operation("post", "/api/v1/auth/sign-out", "End this staff session", None,
              (200, SignedOut), (), tags=("staff",)),
    Operation("post", "/api/v1/customers/identify", "Identify a customer (card, email, phone)",
              api.IdentifyRequest, (200, CustomerProfile), (400, 404, 415, 422)),
    Operation("post", "/api/v1/passes/identify", "Identify a customer from a wallet pass code",
              passes_api.PassIdentifyRequest, (200, CustomerProfile), (400, 404, 415, 422, 503)),
    Operation("get", "/api/v1/customers/<customer_id>/orders", "A customer's orders",
              None, (200, CustomerOrders), (400,), params=CustomerPath),
    Operation("get", "/api/v1/orders", "Search orders by number, loyalty number, email or "
              "phone (?query=)", None, (200, OrderSearch), (400, 404, 422),
              params=OrderSearchQuery),
    Operation("get", "/api/v1/orders/<number>", "An order by number", None, (200, Order),
              (400, 404, 422), params=OrderPath),
    Operation("post", "/api/v1/scans", "Handle a scan as a scanner would", api.ScanRequest,
              (200, ScanOutcome), (400, 404, 415, 422, 503)),
    Operation("post", "/api/v1/returns/quote", "What a return would refund, line by line",
              till_api.ReturnRequest, (200, ReturnQuote), (400, 404, 415, 422)),
    Operation("get", "/api/v1/return-requests/<code>", "Load a kiosk return slip as a quote",
              None, (200, ReturnQuote), (400, 404, 410, 422), params=ReturnSlipPath),
    Operation("post", "/api/v1/returns", "Confirm a return (a supervisor's approval: a few "
              "attempts a minute per device and per cashier)", till_api.ReturnRequest,
              (201, ConfirmedReturn), (400, 404, 415, 422, 423, 429)),
    Operation("get", "/api/v1/conflicts", "Return conflicts not yet resolved: lines returned "
              "here and at another store for more than was bought", None,
              (200, OpenConflicts), ()),
    Operation("get", "/api/v1/loyalty/conflicts", "Loyalty conflicts the centre found: a "
              "coupon used more often than allowed, or points spent twice, across stores",
              None, (200, LoyaltyConflicts), ()),
    Operation("post", "/api/v1/conflicts/<conflict_id>/resolve", "Resolve a return conflict "
              "with a note (supervisor)", conflicts_api.ResolveRequest, (200, ReturnConflict),
              (400, 404, 409, 415, 422), params=ConflictPath),
    Operation("post", "/api/v1/pickups/verify", "Check a click-and-collect order",
              till_api.PickupRequest, (200, PickupCheck), (400, 404, 409, 415, 422)),
    Operation("post", "/api/v1/pickups", "Hand over a click-and-collect order",
              till_api.PickupRequest, (201, Pickup), (400, 404, 409, 415, 422)),
    Operation("post", "/api/v1/loyalty/award", "Award points for a sale",
              till_api.AwardRequest, (200, PointsAward), (400, 404, 415, 422)),
    Operation("post", "/api/v1/coupons/redeem", "Redeem a coupon or reward",
              till_api.RedeemRequest, (200, Redemption), (400, 404, 409, 415, 422)),
    Operation("get", "/api/v1/customers/<customer_id>/lists", "A customer's shopping lists",
              None, (200, CustomerLists), (400,), params=CustomerPath),
    Operation("post", "/api/v1/lists", "Start a shopping list", till_api.NewListRequest,
              (201, ShoppingList), (400, 404, 415, 422)),
    Operation("get", "/api/v1/lists/<list_id>", "A shopping list", None, (200, ShoppingList),
              (400, 404), params=ListPath),
    Operation("put", "/api/v1/lists/<list_id>/items/<gtin>", "Set an item's quantity",
              till_api.ItemRequest, (200, ShoppingList), (400, 404, 415, 422),
              params=ListItemPath),
    Operation("delete", "/api/v1/lists/<list_id>/items/<gtin>", "Remove an item", None,
              (200, ShoppingList), (400, 404), params=ListItemPath),
    Operation("get", "/api/v1/devices", "Scanners and printers: state and health", None,
              (200, DevicesStatus), (), tags=("devices",)),
    Operation("get", "/api/v1/printers/<printer_id>/jobs", "A printer's recent print jobs "
              "(?limit=1..200)", None, (200, PrintJobs), (400, 404, 503), tags=("devices",),
              params=PrintJobsParams),
    Operation("post", "/api/v1/printers/<printer_id>/reprint-last", "Print the last receipt "
              "again", None, (202, PrintJob), (400, 404, 409, 503), tags=("devices",),
              params=PrinterPath),
    Operation("get", "/api/v1/products/<gtin>/stock", "A product's stock size by size: "
              "here (works offline) and in the other stores, nearest first (asks the "
              "centre; says so when it cannot)", None, (200, ProductStock), (400, 404),
              tags=("stock",), params=ProductPath),
    Operation("post", "/api/v1/stock/movements", "Record a sale or return here: the stock "
              "here moves at once (once per reference)", stock_api.MovementRequest,
              (201, RecordedMovement), (400, 404, 415, 422), tags=("stock",)),
    Operation("post", "/api/v1/order-requests", "Order for the identified customer what "
              "this store lacks: collect at another store or delivered home (offline it "
              "waits in the outbox)", stock_api.OrderRequestBody, (201, RequestedOrder),
              (400, 404, 409, 415, 422), tags=("stock",)),
    Operation("get", "/api/v1/tills/<till_id>/events", "Live events for a till screen (SSE)",
              None, (200, SSE), (400, 503), params=TillPath),
)  # fmt: skip


def openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once; it depends only on code)."""
    types: list[type] = [ErrorBody]
    for op in OPERATIONS:
        types += [t for t in (op.body, op.ok[1]) if isinstance(t, type)]
    inputs = [(t, "validation" if _is_request(t) else "serialization",
               TypeAdapter(t)) for t in dict.fromkeys(types)]  # fmt: skip
    refs, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
    schemas = {name: _strict(schema) for name, schema in defs.get("$defs", {}).items()}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(openapi_path(op.path), {})[op.method] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "edge-agent till API",
            "version": __version__,
            "description": 'Errors are always {"error": {"code", "message"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A staff token from /auth/sign-in or a device key (ek_...)",
                }
            },
        },
    }


def response_schema(method: str, rule: str, status: int) -> dict[str, Any] | None:
    """The JSON schema a response must match, or None when it is not JSON."""
    doc = openapi_document()
    operation = doc["paths"].get(openapi_path(rule), {}).get(method.lower())
    if operation is None:
        raise KeyError(f"{method} {rule} is not in the OpenAPI document")
    response = operation["responses"].get(str(status))
    if response is None:
        raise KeyError(f"{method} {rule} does not document status {status}")
    content = response.get("content", {})
    return content.get("application/json", {}).get("schema")


def _operation(op: Operation, refs: dict) -> dict[str, Any]:
    status, shape = op.ok
    responses: dict[str, Any] = {}
    if isinstance(shape, str):
        responses[str(status)] = {"description": "stream", "content": {shape: {}}}
    else:
        responses[str(status)] = {
            "description": "OK",
            "content": {"application/json": {"schema": refs[(shape, "serialization")]}},
        }
    error_ref = refs[(ErrorBody, "serialization")]
    # A body over the limit is refused with 413 wherever a body is read.
    too_large = (413,) if op.body is not None else ()
    for code in (*op.errors, *too_large, *(_AUTH_ERRORS if op.auth else ()), 500):
        responses[str(code)] = {
            "description": "error",
            "content": {"application/json": {"schema": error_ref}},
        }
        if code == 429:
            responses[str(code)]["headers"] = {"Retry-After": RETRY_AFTER}
    parameters = _parameters(op)
    operation: dict[str, Any] = {
        "operationId": f"{op.method}_{openapi_path(op.path)}".replace("/", "_").strip("_"),
        "summary": op.summary,
        "tags": list(op.tags),
        "responses": responses,
    }
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
        }
    if op.auth:
        operation["security"] = [{"bearer": []}]
    return operation


def _parameters(op: Operation) -> list[dict[str, Any]]:
    in_path = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", op.path)
    model = op.params.model_json_schema() if op.params is not None else {}
    properties, required = model.get("properties", {}), set(model.get("required", ()))
    missing = set(in_path) - set(properties)
    if op.params is not None and missing:
        raise ValueError(f"{op.path}: {op.params.__name__} lacks {sorted(missing)}")
    parameters = []
    for name in in_path:
        schema = properties.get(name, {"type": "string"})
        parameters.append({"name": name, "in": "path", "required": True,
                           "schema": _parameter_schema(schema)})  # fmt: skip
    for name, schema in properties.items():
        if name not in in_path:
            parameters.append({"name": name, "in": "query", "required": name in required,
                               "schema": _parameter_schema(schema)})  # fmt: skip
    return parameters


def _parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != "title"}


def _is_request(t: type) -> bool:
    return hasattr(t, "model_validate")


def _strict(schema: Any) -> Any:
    """Forbid undocumented properties on every object schema, recursively."""
    if isinstance(schema, dict):
        schema = {k: _strict(v) for k, v in schema.items()}
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        return schema
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema
