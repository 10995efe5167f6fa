from email.utils import format_datetime

import pytest

from edge_agent.scans import ScanDispatcher
from pos_bridge.app import create_app
from tests.wallet.conftest import NOW, PASS_TYPE_ID
from wallet.apple import registry

SERIAL = "LWEBSERVICE01"
TOKEN = "a-secret-token-of-24-chars"


@pytest.fixture
def client(wallet_agent):
    registry.save_pass(
        wallet_agent.store,
        serial=SERIAL,
        pass_type_id=PASS_TYPE_ID,
        auth_token=TOKEN,
        pkpass=b"PK-first-version",
        at=NOW,
    )
    app = create_app(wallet_agent, ScanDispatcher(wallet_agent))
    return app.test_client()


REGISTER = f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE_ID}/{SERIAL}"
AUTH = {"Authorization": f"ApplePass {TOKEN}"}


def test_register_needs_the_pass_token(client):
    assert client.post(REGISTER, json={"pushToken": "p1"}).status_code == 401
    wrong = client.post(
        REGISTER, json={"pushToken": "p1"}, headers={"Authorization": "ApplePass nope"}
    )
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "unauthorized"


def test_register_then_again_then_unregister(client, wallet_agent):
    assert client.post(REGISTER, json={"pushToken": "p1"}, headers=AUTH).status_code == 201
    assert client.post(REGISTER, json={"pushToken": "p1"}, headers=AUTH).status_code == 200
    assert client.delete(REGISTER, headers=AUTH).status_code == 200
    left = wallet_agent.store.db.execute("SELECT COUNT(*) FROM apple_registrations").fetchone()[0]
    assert left == 0


def test_register_without_push_token_is_a_bad_request(client):
    response = client.post(REGISTER, json={"nope": 1}, headers=AUTH)
    assert response.status_code == 400


def test_serials_updated_since_tag(client, wallet_agent):
    client.post(REGISTER, json={"pushToken": "p1"}, headers=AUTH)
    listing = client.get(f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE_ID}")
    assert listing.status_code == 200
    body = listing.get_json()
    assert body["serialNumbers"] == [SERIAL]
    tag = body["lastUpdated"]
    nothing = client.get(
        f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE_ID}?passesUpdatedSince={tag}"
    )
    assert nothing.status_code == 204
    registry.save_pass(
        wallet_agent.store,
        serial=SERIAL,
        pass_type_id=PASS_TYPE_ID,
        auth_token=TOKEN,
        pkpass=b"PK-second",
        at=NOW,
    )
    again = client.get(
        f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE_ID}?passesUpdatedSince={tag}"
    )
    assert again.get_json()["serialNumbers"] == [SERIAL]
    assert int(again.get_json()["lastUpdated"]) > int(tag)


def test_latest_pass_with_last_modified_and_if_modified_since(client):
    url = f"/passkit/v1/passes/{PASS_TYPE_ID}/{SERIAL}"
    assert client.get(url).status_code == 401
    response = client.get(url, headers=AUTH)
    assert response.status_code == 200
    assert response.data == b"PK-first-version"
    assert response.mimetype == "application/vnd.apple.pkpass"
    assert response.headers["Last-Modified"] == format_datetime(NOW, usegmt=True)
    same = client.get(url, headers={**AUTH, "If-Modified-Since": response.headers["Last-Modified"]})
    assert same.status_code == 304
    older = client.get(url, headers={**AUTH, "If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert older.status_code == 200


def test_log_endpoint_accepts_device_logs(client, caplog):
    response = client.post("/passkit/v1/log", json={"logs": ["could not download pass"]})
    assert response.status_code == 200
    assert "could not download pass" in caplog.text
    assert client.post("/passkit/v1/log", json={"x": 1}).status_code == 400


def test_unknown_pass_and_overlong_ids_are_refused(client):
    assert (
        client.get(f"/passkit/v1/passes/{PASS_TYPE_ID}/LNOSUCHPASS", headers=AUTH).status_code
        == 401
    )
    long_id = "x" * 300
    response = client.post(
        f"/passkit/v1/devices/{long_id}/registrations/{PASS_TYPE_ID}/{SERIAL}",
        json={"pushToken": "p"},
        headers=AUTH,
    )
    assert response.status_code == 400
    bad_tag = client.get(
        f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE_ID}?passesUpdatedSince=yesterday"
    )
    assert bad_tag.status_code == 400
