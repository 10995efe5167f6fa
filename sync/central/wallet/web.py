"""The centre's wallet web service, the one internet-facing wallet endpoint of the chain:

    /passkit/v1/...                 Apple's PassKit web service (wallet.apple.webservice)
    POST /wallet/google/callback    Google's save/delete callbacks (signed, nonce-checked)
    GET  /wallet/c/<token>          the customer's page: "Añadir a Apple Wallet" /
                                    "Guardar en Google Wallet" (es, en)
    GET  /wallet/c/<token>/apple.pkpass   their Apple loyalty pass (issued on first use)
    GET  /wallet/c/<token>/google         302 to their Google save link
    GET  /healthz, /metrics

`<token>` is the customer's unguessable page token (`edge-central wallet link`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, redirect, render_template_string, request
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sync.central.wallet.passes import customer_for_page, issue_loyalty_pass
from sync.central.wallet.push import queued_push_count
from sync.central.wallet.registry import CentrePassRegistry, ThreadDb
from sync.central.wallet.service import tell_stores
from sync.central.wallet.updates import pending_count
from sync.protocol.clock import to_iso, utc_now
from wallet.apple.pkpass import MEDIA_TYPE
from wallet.apple.webservice import passkit_blueprint
from wallet.errors import WalletFailure
from wallet.google.callbacks import CallbackRefused
from wallet.issuer import PassIssuer

if TYPE_CHECKING:
    from wallet.google.callbacks import CallbackVerifier
    from wallet.google.client import GoogleWalletClient

log = logging.getLogger(__name__)

Publish = Callable[[str, bytes], None]

TEXT = {
    "es": {
        "title": "Tu tarjeta de socio",
        "lead": "Guárdala en el móvil y enséñala en caja: tus puntos se actualizan solos.",
        "apple": "Añadir a Apple Wallet",
        "google": "Guardar en Google Wallet",
        "other": "English",
    },
    "en": {
        "title": "Your loyalty card",
        "lead": "Keep it on your phone and show it at the till: your points update by themselves.",
        "apple": "Add to Apple Wallet",
        "google": "Save to Google Wallet",
        "other": "Español",
    },
}

PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:2em auto;padding:0 1em}
a.button{display:block;margin:1em 0;padding:1em;border-radius:.5em;background:#000;
color:#fff;text-align:center;text-decoration:none;font-size:1.1em}</style></head>
<body><h1>{{ t.title }}</h1><p>{{ t.lead }}</p>
{% if apple %}<a class="button" id="apple" href="{{ base }}/apple.pkpass">{{ t.apple }}</a>
{% endif %}{% if google %}<a class="button" id="google" href="{{ base }}/google">{{ t.google }}</a>
{% endif %}
<p><a href="?lang={{ other }}">{{ t.other }}</a></p></body></html>"""


@dataclass(frozen=True)
class WalletWeb:
    issuer: PassIssuer
    dbs: ThreadDb
    google: GoogleWalletClient | None = None
    callbacks: CallbackVerifier | None = None
    publish: Publish | None = None
    language: str = "es"


def create_wallet_app(web: WalletWeb) -> Flask:
    app = Flask(__name__)
    metrics = _Metrics()

    def news_for_stores(customer_id: str) -> None:
        with web.dbs.connection() as db:
            told = tell_stores(db, customer_id)
        for store_id, payload in told:
            if web.publish is not None:
                web.publish(store_id, payload)

    registry = CentrePassRegistry(web.dbs, on_presence=news_for_stores)
    app.register_blueprint(passkit_blueprint(registry))

    @app.post("/wallet/google/callback")
    def google_callback() -> Any:
        if web.callbacks is None:
            return _error(503, "callbacks_not_configured", "no Google callback keys installed")
        try:
            callback = web.callbacks.verify(request.get_data(cache=False), utc_now())
        except CallbackRefused as exc:
            metrics.callbacks.labels("refused").inc()
            log.warning("Google callback refused: %s", exc.message)
            return _error(400, exc.code, exc.message)
        serial = callback.object_id.rpartition(".")[2]
        with web.dbs.connection() as db, db.transaction():
            fresh = db.execute(
                "INSERT INTO google_callback_nonces (nonce, received_at) VALUES (%s, %s)"
                " ON CONFLICT (nonce) DO NOTHING",
                [callback.nonce, to_iso(utc_now())],
            ).rowcount
            customer = None
            if fresh:
                state = "saved" if callback.event == "save" else "deleted"
                row = db.execute(
                    "UPDATE wallet_passes SET google_state = %s WHERE serial = %s"
                    " AND platform = 'google' RETURNING customer_id",
                    [state, serial],
                ).fetchone()
                customer = row[0] if row else None
        if not fresh:
            metrics.callbacks.labels("replayed").inc()
            return jsonify({"status": "duplicate"})
        metrics.callbacks.labels(callback.event).inc()
        if customer is not None:
            news_for_stores(customer)
        return jsonify({"status": "ok"})

    @app.get("/wallet/c/<token>")
    def customer_page(token: str) -> Any:
        with web.dbs.connection() as db:
            if customer_for_page(db, token) is None:
                return _error(404, "page_not_found", "this link is not valid")
        lang = request.args.get("lang") or request.accept_languages.best_match(["es", "en"])
        lang = lang if lang in TEXT else web.language
        return render_template_string(
            PAGE, lang=lang, t=TEXT[lang], other="en" if lang == "es" else "es",
            base=f"/wallet/c/{token}", apple=web.issuer.apple is not None,
            google=web.issuer.google is not None,
        )  # fmt: skip

    @app.get("/wallet/c/<token>/apple.pkpass")
    def apple_pass(token: str) -> Any:
        issued = _issue(token, "apple")
        if isinstance(issued, Response):
            return issued
        return Response(issued.pkpass, mimetype=MEDIA_TYPE, headers={
            "Content-Disposition": f'attachment; filename="{issued.serial}.pkpass"'})  # fmt: skip

    @app.get("/wallet/c/<token>/google")
    def google_pass(token: str) -> Any:
        issued = _issue(token, "google")
        if isinstance(issued, Response):
            return issued
        assert issued.google_link is not None
        return redirect(issued.google_link.url, code=302)

    def _issue(token: str, platform: str) -> Any:
        with web.dbs.connection() as db:
            customer_id = customer_for_page(db, token)
            if customer_id is None:
                return _error(404, "page_not_found", "this link is not valid")
            try:
                issued = issue_loyalty_pass(
                    db,
                    web.issuer,
                    customer_id,
                    platform,
                    utc_now(),
                    web.google,  # type: ignore[arg-type]
                )
            except WalletFailure as exc:
                return _error(exc.http_status, exc.code, exc.message)
        if issued.new:
            metrics.issued.labels(platform).inc()
            news_for_stores(customer_id)
        return issued

    @app.get("/healthz")
    def healthz() -> Any:
        try:
            with web.dbs.connection() as db:
                db.execute("SELECT 1 FROM wallet_passes LIMIT 1").fetchall()
        except Exception as exc:
            return _error(503, "database_unreachable", str(exc)[:200])
        return jsonify({"status": "ok"})

    @app.get("/metrics")
    def metrics_page() -> Any:
        with web.dbs.connection() as db:
            metrics.queued_pushes.set(queued_push_count(db))
            metrics.pending_updates.set(pending_count(db))
        return Response(generate_latest(metrics.registry), mimetype=CONTENT_TYPE_LATEST)

    return app


class _Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.issued = Counter(
            "edge_central_wallet_passes_issued", "Passes issued at the centre.", ["platform"],
            registry=self.registry,
        )  # fmt: skip
        self.callbacks = Counter(
            "edge_central_wallet_google_callbacks",
            "Google save/delete callbacks by outcome (save, del, replayed, refused).",
            ["outcome"], registry=self.registry,
        )  # fmt: skip
        self.queued_pushes = Gauge(
            "edge_central_wallet_queued_pushes", "APNs pushes waiting to go.",
            registry=self.registry,
        )  # fmt: skip
        self.pending_updates = Gauge(
            "edge_central_wallet_pending_updates",
            "Customers whose passes wait to be re-issued (coalescing).", registry=self.registry,
        )  # fmt: skip


def _error(status: int, code: str, message: str) -> Any:
    return jsonify({"error": {"code": code, "message": message}}), status
