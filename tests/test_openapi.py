import jsonschema
import pytest
from openapi_spec_validator import validate

from edge_agent.scans import ScanDispatcher
from pos_bridge.app import create_app
from pos_bridge.openapi import openapi_document, openapi_path, response_schema
from tests.openapi_check import check
from tests.test_api import client  # noqa: F401  (fixture)


def test_document_is_valid_openapi_3_1_and_served(client):  # noqa: F811
    served = client.get("/api/v1/openapi.json", headers={"Authorization": ""})
    assert served.status_code == 200
    document = served.get_json()
    assert document["openapi"] == "3.1.0"
    validate(document)  # an independent validator of the OpenAPI specification


def test_every_api_route_is_documented_and_nothing_else(seeded):
    app = create_app(seeded, ScanDispatcher(seeded))
    routes = {
        (method.lower(), openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and not rule.rule.endswith("openapi.json")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (method, path) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert routes == documented


def test_response_check_catches_an_undocumented_field(client):  # noqa: F811
    body = client.get("/api/v1/orders/W100000001").get_json()
    schema = response_schema("GET", "/api/v1/orders/<number>", 200)
    check(schema, body)
    with pytest.raises(jsonschema.ValidationError):
        check(schema, {**body, "card_number": "4111111111111111"})
    with pytest.raises(jsonschema.ValidationError):
        check(schema, {k: v for k, v in body.items() if k != "lines"})


def test_undocumented_status_is_an_error():
    with pytest.raises(KeyError, match="does not document status 418"):
        response_schema("GET", "/api/v1/orders/<number>", 418)
