"""A stand-in for Google's OAuth token endpoint and the Wallet REST API on 127.0.0.1:
same paths as walletobjects/v1, objects kept in memory. The token endpoint checks the
service account's JWT assertion with google-auth and the public certificate."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask, jsonify, request
from google.auth import jwt as google_jwt
from werkzeug.serving import make_server

API_PREFIX = "/walletobjects/v1"


class GoogleStandIn:
    def __init__(self, public_cert_pem: bytes) -> None:
        self.cert = public_cert_pem.decode()
        self.objects: dict[str, dict[str, Any]] = {}
        self.classes: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, Any] | None, str]] = []
        self.token_requests = 0
        self.app = self._build()

    def start(self) -> None:
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _build(self) -> Flask:
        app = Flask("google-standin")

        @app.post("/token")
        def token() -> Any:
            assertion = request.form["assertion"]
            # google-auth addresses the assertion to Google's token URL whatever token_uri says.
            claims = google_jwt.decode(
                assertion, certs=self.cert, audience="https://oauth2.googleapis.com/token"
            )
            assert "wallet_object.issuer" in claims["scope"]
            self.token_requests += 1
            return jsonify({"access_token": "standin-token", "expires_in": 3600})

        def record(body: dict[str, Any] | None) -> None:
            self.requests.append(
                (request.method, request.path, body, request.headers.get("Authorization", ""))
            )

        @app.post(f"{API_PREFIX}/<resource>")
        def insert(resource: str) -> Any:
            body = request.get_json()
            record(body)
            store = self.classes if resource == "loyaltyClass" else self.objects
            if body["id"] in store:
                return jsonify({"error": {"code": 409, "message": "exists"}}), 409
            store[body["id"]] = body
            return jsonify(body)

        @app.get(f"{API_PREFIX}/<resource>/<item_id>")
        def get(resource: str, item_id: str) -> Any:
            record(None)
            store = self.classes if resource == "loyaltyClass" else self.objects
            return jsonify(store[item_id]) if item_id in store else ("", 404)

        @app.patch(f"{API_PREFIX}/loyaltyObject/<item_id>")
        def patch(item_id: str) -> Any:
            body = request.get_json()
            record(body)
            self.objects[item_id].update(body)
            return jsonify(self.objects[item_id])

        @app.post(f"{API_PREFIX}/loyaltyObject/<item_id>/addMessage")
        def add_message(item_id: str) -> Any:
            body = request.get_json()
            record(body)
            self.objects[item_id].setdefault("messages", []).append(body["message"])
            return jsonify({"resource": self.objects[item_id]})

        return app
