"""Reading and validating request bodies at the edge: malformed input is refused with a
clear error before any use case runs."""

from __future__ import annotations

import json
from typing import TypeVar

from flask import request
from pydantic import BaseModel, ValidationError

from pos_bridge.errors import ApiError
from pos_bridge.params import describe

Model = TypeVar("Model", bound=BaseModel)
MAX_BODY_BYTES = 64 * 1024  # the largest till request is a return of a few dozen lines


def read_body(model: type[Model]) -> Model:
    if request.mimetype != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    # A chunked body has no Content-Length: read one byte past the limit, never more.
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"the body is over {MAX_BODY_BYTES} bytes")
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        # 400: the body is not what the OpenAPI document allows (422 is the store's refusal
        # of a well-formed request).
        raise ApiError(400, "invalid_request", describe(exc)) from None


def parse_json(raw: bytes) -> object:
    """JSON from a request body, or 400 invalid_json (deep nesting included)."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body nests too deeply") from None
