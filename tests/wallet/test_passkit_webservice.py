"""The PassKit web service as the centre serves it, over the centre's database."""

from email.utils import format_datetime

import pytest

from sync.central.db import CentralDb
from sync.central.wallet.passes import next_update_tag
from sync.central.wallet.registry import ThreadDb
from sync.central.wallet.web import WalletWeb, create_wallet_app
from sync.protocol.clock import to_iso
from tests.wallet.conftest import NOW, PASS_TYPE_ID
from wallet.issuer import PassIssuer

SERIAL = "LWEBSERVICE01"
TOKEN = "a-secret-token-of-24-chars"


def save_pass(db_url: str, pkpass: bytes) -> None:
    """A pass as the centre keeps it after issuing or re-issuing (a new update tag)."""
    db = CentralDb(db_url)
    try:
        with db.transaction():
            tag = next_update_tag(db)
            db.execute(
                "INSERT INTO wallet_passes (serial, customer_id, kind, platform, status, code,"
                " pass_type_id, auth_token, update_tag, pkpass, issued_at, updated_at)"
                " VALUES (%s, 'C1', 'loyalty', 'apple', 'active', 'EP1:X', %s, %s, %s, %s, %s,"
                " %s) ON CONFLICT (serial) DO UPDATE SET pkpass = excluded.pkpass,"
                " update_tag = excluded.update_tag",
                [SERIAL, PASS_TYPE_ID, TOKEN, tag, pkpass, to_iso(NOW), to_iso(NOW)],
            )
    finally:
        db.close()


def registrations(db_url: str) -> int:
    db = CentralDb(db_url)
    try:
        return db.execute("SELECT COUNT(*) FROM wallet_registrations").fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    db = CentralDb(url)
    db.create_schema()
    db.close()
    save_pass(url, b"PK-first-version")
    return url


@pytest.fixture
def client(db_url, signer):
    dbs = ThreadDb(db_url)
    app = create_wallet_app(WalletWeb(PassIssuer(signer), dbs))
    yield app.test_client()
    dbs.close()


REGISTER = f"/passkit/v1/devices/dev-1/registrations/{PASS_TYPE_ID}/{SERIAL}"
AUTH = {"Authorization": f"ApplePass {TOKEN}"}


def test_register_needs_the_pass_token(client):
    assert client.post(REGISTER, json={"pushToken": "p1"}).status_code == 401
    wrong = client.post(
        REGISTER, json={"pushToken": "p1"}, headers={"Authorization": "ApplePass nope"}
    )
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "unauthorized"


def test_register_then_again_then_unregister(client, db_url):
    assert client.post(REGISTER, json={"pushToken": "p1"}, headers=AUTH).status_code == 201
    assert client.post(REGISTER, json={"pushToken": "p1"}, headers=AUTH).status_code == 200
    assert client.delete(REGISTER, headers=AUTH).status_code == 200
    assert registrations(db_url) == 0


def test_register_without_push_token_is_a_bad_request(client):
    response = client.post(REGISTER, json={"nope": 1}, headers=AUTH)
    assert response.status_code == 400


def test_serials_updated_since_tag(client, db_url):
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
    save_pass(db_url, b"PK-second")
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
