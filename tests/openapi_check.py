"""Holds the OpenAPI document to the truth: every JSON response a test provokes from the
till API is validated against the schema the document gives for its route and status."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from jsonschema import Draft202012Validator

from pos_bridge.openapi import openapi_document, response_schema

CHECKED: list[tuple[str, str, int]] = []


def validate_responses(app: Flask) -> None:
    @app.after_request
    def _check(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule else None
        if rule is None or not rule.startswith("/api/v1/") or rule.endswith("openapi.json"):
            return response
        if request.method == "OPTIONS":  # Flask's own answer (Allow), not an operation
            return response
        schema = response_schema(request.method, rule, response.status_code)
        if schema is not None:
            assert response.is_json, f"{request.method} {rule} answered non-JSON"
            check(schema, response.get_json())
        CHECKED.append((request.method, rule, response.status_code))
        return response


def check(schema: dict[str, Any], body: Any) -> None:
    root = {**schema, "components": openapi_document()["components"]}
    Draft202012Validator(root).validate(body)
