"""Wires the server-rendered screens into the app: the kiosk, the staff console, the
slip look-up for tills, the signed session cookie they share, and the language."""

from __future__ import annotations

import secrets

from flask import Flask

from edge_agent.context import AgentContext
from pos_bridge import wiring
from pos_bridge.console import console
from pos_bridge.i18n import install_i18n
from pos_bridge.kiosk import kiosk
from pos_bridge.kiosk_sessions import KioskSessions
from pos_bridge.return_requests_api import return_requests_api

SESSION_SECRET_META_KEY = "web_session_secret"


def install_screens(app: Flask, ctx: AgentContext) -> None:
    app.secret_key = ctx.config.kiosk.session_secret or _device_session_secret(ctx)
    # Lax: a page on another site cannot post a form into the console with our cookie.
    # Secure once the agent serves HTTPS: the cookie then never travels in clear.
    app.config.update(
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=ctx.config.web.tls,
    )
    install_i18n(app)
    wiring.install_kiosk_sessions(app, KioskSessions(ctx.config.kiosk.idle_timeout_seconds))
    app.register_blueprint(kiosk)
    app.register_blueprint(console)
    app.register_blueprint(return_requests_api)


def _device_session_secret(ctx: AgentContext) -> str:
    """One random secret per device, kept in the database and never in the repository."""
    secret = ctx.store.meta(SESSION_SECRET_META_KEY)
    if secret is None:
        with ctx.store.transaction() as db:
            # INSERT OR IGNORE + re-read: two processes starting at once agree on one secret.
            db.execute(
                "INSERT OR IGNORE INTO agent_meta (key, value) VALUES (?, ?)",
                [SESSION_SECRET_META_KEY, secrets.token_urlsafe(32)],
            )
        secret = ctx.store.meta(SESSION_SECRET_META_KEY)
    assert secret is not None
    return secret
