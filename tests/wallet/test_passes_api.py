import pytest

from edge_agent.scans import ScanDispatcher
from edge_agent.staff import create_api_key
from pos_bridge.app import create_app
from tests.conftest import outbox_types
from tests.openapi_check import validate_responses
from tests.wallet.conftest import centre_pass


def authorised(app, ctx):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {create_api_key(ctx, 'pos', 'cashier')}"
    return client


@pytest.fixture
def client(wallet_agent):
    app = create_app(wallet_agent, ScanDispatcher(wallet_agent))
    validate_responses(app)
    return authorised(app, wallet_agent)


def test_scanned_pass_identifies_over_the_api(client, wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, "C00000003")
    response = client.post("/api/v1/passes/identify", json={"code": issued.code, "till_id": "t1"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["customer_id"] == "C00000003"
    assert outbox_types(wallet_agent)[-1] == "customer.identified"


def test_tampered_pass_gets_its_reason_as_json(client, wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, "C00000003")
    tampered = issued.code[:-1] + ("A" if issued.code[-1] != "A" else "B")
    response = client.post("/api/v1/passes/identify", json={"code": tampered})
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] in {"pass_altered", "pass_malformed"}
    assert "customer.identified" not in outbox_types(wallet_agent)


def test_store_without_keys_answers_503_with_a_reason(agent):
    client = authorised(create_app(agent, ScanDispatcher(agent)), agent)
    response = client.post("/api/v1/passes/identify", json={"code": "EP1:AAAA"})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "passes_not_configured"


def test_bad_body_is_refused_before_anything_runs(client, wallet_agent):
    response = client.post("/api/v1/passes/identify", json={"code": "", "extra": 1})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_request"
    assert outbox_types(wallet_agent) == []


def test_pass_identification_needs_a_token(wallet_agent):
    client = create_app(wallet_agent, ScanDispatcher(wallet_agent)).test_client()
    response = client.post("/api/v1/passes/identify", json={"code": "EP1:AAAA"})
    assert response.status_code == 401
