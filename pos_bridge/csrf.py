"""Cross-site request forgery guard for the screens (kiosk, console): every form that
changes something carries a per-session token, and a request whose Origin is not this
server is refused. SameSite=Lax stops other sites, not a page on another port of the same
host; the token does."""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Blueprint, request, session
from werkzeug.exceptions import Forbidden

log = logging.getLogger(__name__)
CSRF_SESSION_KEY = "csrf"
CSRF_FIELD = "csrf_token"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_token() -> str:
    """This session's token, made on first use (templates call it for each form)."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return token


def protect(blueprint: Blueprint) -> None:
    """Check every unsafe request to `blueprint`; register before its other hooks."""
    blueprint.before_request(_check)
    blueprint.context_processor(lambda: {"csrf_token": csrf_token})


def _check() -> None:
    if request.method not in _UNSAFE:
        return
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        log.warning("refused %s %s: sent from %s", request.method, request.path, origin[:100])
        raise Forbidden("this form was sent from another site")
    expected = session.get(CSRF_SESSION_KEY)
    given = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("refused %s %s: no valid form token", request.method, request.path)
        raise Forbidden("this form has expired; open the page again")
