import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from google.auth import exceptions
from google.auth import jwt as google_jwt
from google.auth.crypt import RSAVerifier
from google.oauth2 import service_account

from tests.wallet.conftest import NOW
from tests.wallet.google_standin import API_PREFIX, GoogleStandIn
from wallet.content import LoyaltyCard
from wallet.devcerts import make_service_account
from wallet.google.client import GoogleWalletClient
from wallet.google.objects import GoogleSettings, loyalty_class, loyalty_object
from wallet.google.save import MAX_SAVE_JWT_LENGTH, SAVE_JWT_LIFETIME, SAVE_URL, save_link
from wallet.issuer import GoogleIssuing, PassIssuer
from wallet.rotating import google_rotating_barcode

SETTINGS = GoogleSettings("3388000000012345678", "loyalty", "Club Demo", "Demo", "https://x/l.png")
CARD = LoyaltyCard("LGOOGLESERIAL", "EP1:AAAA", "Lucía Núñez", "2900000013087", "gold", 1234)
ORIGINS = ("https://shop.example",)


@pytest.fixture(scope="module")
def service_account_key():
    return make_service_account("http://127.0.0.1:1/token")


@pytest.fixture
def standin(service_account_key):
    _info, cert = service_account_key
    server = GoogleStandIn(cert)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def credentials(service_account_key, standin):
    info = dict(service_account_key[0], token_uri=f"{standin.base}/token")
    return service_account.Credentials.from_service_account_info(info)


@pytest.fixture
def client(credentials, standin):
    client = GoogleWalletClient(credentials, base_url=standin.base + API_PREFIX)
    yield client
    client.close()


def test_save_jwt_verifies_with_google_auth_and_the_public_cert(credentials, service_account_key):
    link = save_link(credentials, loyalty_object(SETTINGS, CARD), origins=ORIGINS, now=NOW)
    assert link.url == SAVE_URL + link.jwt
    assert not link.requires_insert
    assert len(link.jwt) <= MAX_SAVE_JWT_LENGTH
    assert google_jwt.decode_header(link.jwt)["kid"] == credentials.signer.key_id
    assert verify_rs256(link.jwt, service_account_key[1])
    claims = google_jwt.decode(link.jwt, verify=False)
    assert claims["exp"] - claims["iat"] == SAVE_JWT_LIFETIME.total_seconds()
    assert claims["aud"] == "google"
    assert claims["typ"] == "savetowallet"
    assert claims["iss"] == credentials.service_account_email
    assert claims["origins"] == list(ORIGINS)
    (obj,) = claims["payload"]["loyaltyObjects"]
    assert obj["id"] == "3388000000012345678.LGOOGLESERIAL"
    assert obj["classId"] == "3388000000012345678.loyalty"
    assert obj["loyaltyPoints"]["balance"] == {"int": 1234}
    assert obj["barcode"] == {"type": "QR_CODE", "value": "EP1:AAAA"}
    assert obj["textModulesData"][0]["body"] == "Oro"


def test_save_jwt_accepted_by_google_auth_decode_until_it_expires(credentials, service_account_key):
    """google.auth.jwt.decode, the verifier most Python receivers use, checks the
    signature, the audience, "iat" and "exp"; it refuses a JWT without "exp"."""
    cert = service_account_key[1]
    now = datetime.now(UTC)
    link = save_link(credentials, loyalty_object(SETTINGS, CARD), origins=ORIGINS, now=now)
    claims = google_jwt.decode(link.jwt, certs=cert, audience="google")
    assert claims["payload"]["loyaltyObjects"][0]["id"] == SETTINGS.object_id(CARD.serial)
    stale = now - SAVE_JWT_LIFETIME - timedelta(minutes=5)
    old = save_link(credentials, loyalty_object(SETTINGS, CARD), origins=ORIGINS, now=stale)
    with pytest.raises(exceptions.InvalidValue, match="expired"):
        google_jwt.decode(old.jwt, certs=cert, audience="google")


def test_save_jwt_signed_by_another_key_does_not_verify(credentials):
    _other_info, other_cert = make_service_account("http://127.0.0.1:1/token")
    link = save_link(credentials, loyalty_object(SETTINGS, CARD), origins=ORIGINS, now=NOW)
    assert not verify_rs256(link.jwt, other_cert)


def verify_rs256(token: str, cert_pem: bytes) -> bool:
    signed, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return RSAVerifier.from_string(cert_pem).verify(signed.encode(), raw)


def test_too_long_object_travels_by_reference(credentials):
    big = LoyaltyCard(CARD.serial, CARD.code, "N" * 3000, None, "gold", 1)
    link = save_link(credentials, loyalty_object(SETTINGS, big), origins=ORIGINS, now=NOW)
    assert link.requires_insert
    assert len(link.jwt) <= MAX_SAVE_JWT_LENGTH
    payload = link.jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["payload"]["loyaltyObjects"] == [
        {"id": SETTINGS.object_id(CARD.serial), "classId": SETTINGS.class_id}
    ]


def test_rotating_barcode_object(credentials):
    rotating = google_rotating_barcode("EP1:AAAA", b"k" * 20)
    obj = loyalty_object(SETTINGS, CARD, rotating)
    assert "barcode" not in obj
    assert obj["rotatingBarcode"]["valuePattern"] == "EP1:AAAA/{totp_value_0}"
    assert obj["rotatingBarcode"]["totpDetails"]["parameters"][0]["key"] == ("6b" * 20)


def test_class_and_object_insert_and_patch_through_authorized_session(client, standin):
    client.insert_class(loyalty_class(SETTINGS))
    client.insert_class(loyalty_class(SETTINGS))  # exists already: fetched, no error
    client.insert_object(loyalty_object(SETTINGS, CARD))
    updated = client.patch_object(
        SETTINGS.object_id(CARD.serial), {"loyaltyPoints": {"balance": {"int": 5}}}, notify=True
    )
    assert updated["loyaltyPoints"] == {"balance": {"int": 5}}
    assert updated["notifyPreference"] == "notifyOnUpdate"
    assert standin.token_requests == 1  # one token, reused
    assert all(auth == "Bearer standin-token" for *_rest, auth in standin.requests)
    paths = [(method, path) for method, path, *_ in standin.requests]
    assert ("PATCH", f"{API_PREFIX}/loyaltyObject/{SETTINGS.object_id(CARD.serial)}") in paths


def test_tier_changes_notify_at_most_three_times_a_day_points_never(
    tmp_path, keys_dir, credentials, client, standin
):
    from sync.central.db import CentralDb
    from sync.central.wallet.passes import GOOGLE_NOTIFY_LIMIT, issue_loyalty_pass, reissue_customer
    from wallet.codes import PassSigner
    from wallet.keys import load_signing_key

    issuer = PassIssuer(
        PassSigner(1, load_signing_key(keys_dir, 1)),
        google=GoogleIssuing(SETTINGS, credentials, ORIGINS),
    )
    db = CentralDb(f"sqlite://{tmp_path / 'central.sqlite3'}")
    db.create_schema()
    db.execute(
        "INSERT INTO customers (id, first_name, last_name, consent_marketing, tier, points,"
        " lifetime_points, digest, updated_at) VALUES ('C1', 'Ana', 'Ruiz', 1, 'bronze', 10,"
        " 10, 'x', 'now')"
    )
    issued = issue_loyalty_pass(db, issuer, "C1", "google", NOW, google_client=client)
    assert issued.google_link is not None and issued.new
    assert standin.objects[SETTINGS.object_id(issued.serial)]["loyaltyPoints"]["balance"] == {
        "int": 10
    }
    db.execute("UPDATE customers SET points = 20 WHERE id = 'C1'")
    (points_only,) = reissue_customer(
        db, issuer, "C1", NOW, tier_changed=False, google_client=client
    )
    assert not points_only.notified
    for n in range(GOOGLE_NOTIFY_LIMIT + 2):
        db.execute("UPDATE customers SET points = %s WHERE id = 'C1'", [100 + n])
        reissue_customer(db, issuer, "C1", NOW, tier_changed=True, google_client=client)
    assert reissue_customer(db, issuer, "C1", NOW, tier_changed=True, google_client=client) == []
    db.close()
    patches = [body for method, _path, body, _auth in standin.requests if method == "PATCH"]
    assert [p.get("notifyPreference") for p in patches] == [None] + [
        "notifyOnUpdate"
    ] * GOOGLE_NOTIFY_LIMIT + [None, None]
