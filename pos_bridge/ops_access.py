"""Who may read the operator endpoints (/metrics, the detail of /healthz): this device
itself (loopback), or a caller with `Authorization: Bearer <web.ops_token>`."""

from __future__ import annotations

import hmac
import ipaddress

from flask import request

from pos_bridge.errors import ApiError


def ops_allowed(ops_token: str) -> bool:
    if _is_loopback(request.remote_addr or ""):
        return True
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(ops_token)
        and scheme == "Bearer"
        and hmac.compare_digest(given.strip().encode(), ops_token.encode())
    )


def require_ops(ops_token: str) -> None:
    if not ops_allowed(ops_token):
        raise ApiError(
            401,
            "ops_token_required",
            "this endpoint answers on the device itself, or with the operator token",
        )


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
