"""One JSON error shape for every 4xx/5xx: {"error": {"code": ..., "message": ...}}."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from edge_agent.errors import KNOWN_ERRORS, EdgeAgentError

log = logging.getLogger(__name__)


class ApiError(EdgeAgentError):
    """An error raised by the web layer itself (bad body, wrong media type)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.http_status = status
        self.code = code


class TooManyAttempts(ApiError):
    """A throttle refused the request: 429 with Retry-After, in whole seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, "too_many_attempts", message)
        self.retry_after = max(1, retry_after)


def add_retry_after(response: Response, exc: Exception) -> Response:
    """RFC 9110: a refusal to be retried later says when (a TooManyAttempts does)."""
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


def register_error_handlers(app: Flask) -> None:
    def _known_error(exc: Exception) -> tuple[Response, int]:
        status: int = getattr(exc, "http_status", 500)
        code: str = getattr(exc, "code", "internal_error")
        message: str = getattr(exc, "message", str(exc))
        if status >= 500:
            log.error("request failed: %s: %s", code, message)
        response, status = error_response(status, code, message)
        return add_retry_after(response, exc), status

    for known in KNOWN_ERRORS:
        app.register_error_handler(known, _known_error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        code = (exc.name or "error").lower().replace(" ", "_").replace("'", "")
        response, status = error_response(status, code, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            # RFC 9110: a 405 names the methods the resource does support.
            response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error while serving a request")
        return error_response(
            500, "internal_error", "the agent hit an unexpected error; nothing was changed"
        )
