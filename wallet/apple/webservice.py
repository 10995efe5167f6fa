"""The PassKit web service (Apple's protocol) as a Flask blueprint.

A pass's `webServiceURL` is `<base>/passkit`; Wallet appends the paths below. Calls about
one pass carry `Authorization: ApplePass <authenticationToken>` from that pass.

    POST   /v1/devices/<device>/registrations/<passType>/<serial>   register (201 new, 200 known)
    DELETE /v1/devices/<device>/registrations/<passType>/<serial>   unregister (200)
    GET    /v1/devices/<device>/registrations/<passType>?passesUpdatedSince=<tag>
                                                   serials updated (200) or nothing new (204)
    GET    /v1/passes/<passType>/<serial>          latest pass; Last-Modified / If-Modified-Since
    POST   /v1/log                                 device error messages, logged
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Protocol

from flask import Blueprint, Response, jsonify, request
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from wallet.apple.pkpass import MEDIA_TYPE

log = logging.getLogger(__name__)
URL_PREFIX = "/passkit"
# Apple's ids are short; anything longer is not Wallet talking.
_MAX_ID = 200
MAX_LOG_LINES = 50
MAX_LOG_LINE_CHARS = 500
# Wallet's bodies are a push token or a few log lines; anything bigger is not Wallet.
MAX_BODY_BYTES = 16 * 1024
# The log endpoint needs no authentication (Apple's protocol): what it may write to the
# agent's log in a minute, from everyone together, so nobody can flood the journal.
LOG_LINES_PER_MINUTE = 200


@dataclass(frozen=True)
class StoredPass:
    serial: str
    pass_type_id: str
    update_tag: int
    updated_at: datetime
    pkpass: bytes


class PassRegistry(Protocol):
    """Where the service keeps passes and registrations (the centre's database)."""

    def is_authorised(self, pass_type_id: str, serial: str, token: str) -> bool: ...

    def register_device(
        self, *, device_id: str, push_token: str, pass_type_id: str, serial: str, at: datetime
    ) -> bool:
        """True if new, False if this device had registered the pass already."""
        ...

    def unregister_device(self, *, device_id: str, pass_type_id: str, serial: str) -> bool: ...

    def serials_updated_since(
        self, *, device_id: str, pass_type_id: str, since_tag: int | None
    ) -> tuple[list[str], int]:
        """Serials of this device's passes re-issued after `since_tag`, and the newest tag."""
        ...

    def latest_pass(self, pass_type_id: str, serial: str) -> StoredPass | None: ...


def passkit_blueprint(registry: PassRegistry) -> Blueprint:
    """The web service over `registry`."""
    bp = Blueprint("passkit", __name__, url_prefix=URL_PREFIX)
    log_budget = MovingWindowRateLimiter(MemoryStorage())
    log_rate = RateLimitItemPerMinute(LOG_LINES_PER_MINUTE)

    @bp.post("/v1/devices/<device_id>/registrations/<pass_type_id>/<serial>")
    def register(device_id: str, pass_type_id: str, serial: str) -> Any:
        _check_ids(device_id, pass_type_id, serial)
        _authorise(registry, pass_type_id, serial)
        body = _json_body()
        push_token = body.get("pushToken") if isinstance(body, dict) else None
        if not isinstance(push_token, str) or not 0 < len(push_token) <= _MAX_ID:
            return _error(400, "invalid_request", 'the body must be {"pushToken": "..."}')
        created = registry.register_device(
            device_id=device_id,
            push_token=push_token,
            pass_type_id=pass_type_id,
            serial=serial,
            at=datetime.now(UTC),
        )
        return Response(status=201 if created else 200)

    @bp.delete("/v1/devices/<device_id>/registrations/<pass_type_id>/<serial>")
    def unregister(device_id: str, pass_type_id: str, serial: str) -> Any:
        _check_ids(device_id, pass_type_id, serial)
        _authorise(registry, pass_type_id, serial)
        registry.unregister_device(device_id=device_id, pass_type_id=pass_type_id, serial=serial)
        return Response(status=200)

    @bp.get("/v1/devices/<device_id>/registrations/<pass_type_id>")
    def updated_serials(device_id: str, pass_type_id: str) -> Any:
        _check_ids(device_id, pass_type_id)
        since_text = request.args.get("passesUpdatedSince")
        since: int | None = None
        if since_text:
            if not since_text.isdigit() or len(since_text) > 18:
                return _error(400, "invalid_request", "passesUpdatedSince must be a tag we gave")
            since = int(since_text)
        serials, last = registry.serials_updated_since(
            device_id=device_id, pass_type_id=pass_type_id, since_tag=since
        )
        if not serials:
            return Response(status=204)
        return jsonify({"serialNumbers": serials, "lastUpdated": str(last)})

    @bp.get("/v1/passes/<pass_type_id>/<serial>")
    def latest(pass_type_id: str, serial: str) -> Any:
        _check_ids(pass_type_id, serial)
        _authorise(registry, pass_type_id, serial)
        stored = registry.latest_pass(pass_type_id, serial)
        if stored is None:  # authorised yet gone: deleted between the two reads
            return _error(404, "pass_not_found", "no such pass")
        # HTTP dates have whole seconds; compare at that precision.
        modified = stored.updated_at.replace(microsecond=0)
        since_header = request.headers.get("If-Modified-Since")
        if since_header:
            try:
                since = parsedate_to_datetime(since_header)
            except (TypeError, ValueError):
                since = None
            if since is not None and since.tzinfo is not None and modified <= since:
                return Response(status=304)
        response = Response(stored.pkpass, status=200, mimetype=MEDIA_TYPE)
        response.headers["Last-Modified"] = format_datetime(modified, usegmt=True)
        return response

    @bp.post("/v1/log")
    def device_log() -> Any:
        body = _json_body()
        lines = body.get("logs") if isinstance(body, dict) else None
        if not isinstance(lines, list):
            return _error(400, "invalid_request", 'the body must be {"logs": ["..."]}')
        for line in lines[:MAX_LOG_LINES]:
            if not log_budget.hit(log_rate, "device-log"):
                break  # past the budget the lines are dropped, the device is still told 200
            # One device line is one log line: newlines and control characters escaped.
            text = str(line)[:MAX_LOG_LINE_CHARS].encode("unicode_escape").decode("ascii")
            log.warning("Apple Wallet device log: %s", text)
        return Response(status=200)

    @bp.errorhandler(_Unauthorised)
    def _unauthorised(_exc: _Unauthorised) -> Any:
        return _error(401, "unauthorized", "missing or wrong ApplePass authentication token")

    @bp.errorhandler(_BadId)
    def _bad_id(_exc: _BadId) -> Any:
        return _error(400, "invalid_request", "an id in the path is too long")

    return bp


class _Unauthorised(Exception):
    pass


def _json_body() -> object:
    """The request's JSON, or None when it is not JSON, too deep, or over MAX_BODY_BYTES."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return None
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


class _BadId(Exception):
    pass


def _authorise(registry: PassRegistry, pass_type_id: str, serial: str) -> None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme != "ApplePass" or not token:
        raise _Unauthorised()
    if not registry.is_authorised(pass_type_id, serial, token.strip()):
        raise _Unauthorised()


def _check_ids(*ids: str) -> None:
    if any(len(value) > _MAX_ID for value in ids):
        raise _BadId()


def _error(status: int, code: str, message: str) -> Any:
    return jsonify({"error": {"code": code, "message": message}}), status
