"""Path and query parameters of the till API, validated at the edge by pydantic models.

The OpenAPI document takes each parameter's schema from the same model (pattern, length,
range), so a request the document allows is never refused as malformed: what is left to
refuse is the store's business (an unknown order, a number outside its pattern), answered
422 or 404 with the error shape."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_agent.errors import InvalidInput
from edge_agent.products import GTIN_PATTERN
from hardware.cardguard import CARD_DATA_REASON, looks_like_card_data
from pos_bridge.errors import ApiError

Params = TypeVar("Params", bound=BaseModel)
# Ids of staff, tills, customers, lists, printers, sale references: what fits in a topic,
# a log line and a URL path segment without escaping.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_JOBS_LISTED = 200


class _Params(BaseModel):
    # Unknown query parameters are ignored (a proxy's cache-buster must not break a till).
    model_config = ConfigDict(extra="ignore")


class CustomerPath(_Params):
    customer_id: str = Field(pattern=ID_PATTERN)


class OrderPath(_Params):
    number: str = Field(min_length=1, max_length=40)


class OrderSearchQuery(_Params):
    query: str = Field(min_length=1, max_length=254)


class ReturnSlipPath(_Params):
    code: str = Field(min_length=1, max_length=80)


class ConflictPath(_Params):
    conflict_id: str = Field(min_length=1, max_length=64)


class ListPath(_Params):
    list_id: str = Field(pattern=ID_PATTERN)


class ListItemPath(ListPath):
    gtin: str = Field(pattern=GTIN_PATTERN)


class ProductPath(_Params):
    gtin: str = Field(pattern=GTIN_PATTERN)


class PrinterPath(_Params):
    printer_id: str = Field(pattern=ID_PATTERN)


class PrintJobsParams(PrinterPath):
    limit: int = Field(50, ge=1, le=MAX_JOBS_LISTED, description="how many jobs, newest first")


class TillPath(_Params):
    till_id: str = Field(pattern=ID_PATTERN)


def read_params(model: type[Params]) -> Params:
    """The request's path and query parameters as `model`, or a 400 naming the problem."""
    values: dict[str, Any] = {**request.args.to_dict(), **(request.view_args or {})}
    if any(isinstance(v, str) and looks_like_card_data(v) for v in values.values()):
        # Typed into the wrong field: refused without echoing it (no pattern message).
        raise InvalidInput(CARD_DATA_REASON)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe(exc)) from None


def describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
    )
