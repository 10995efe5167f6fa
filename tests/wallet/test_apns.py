import base64
import ssl
import time

import pytest
from cryptography.hazmat.primitives import serialization
from google.auth import jwt as google_jwt
from google.auth.crypt.es256 import ES256Verifier

from sync.central.db import CentralDb
from sync.central.wallet.passes import queue_pushes
from sync.central.wallet.push import send_queued_pushes
from sync.central.wallet.service import WalletUpdater
from sync.protocol.clock import to_iso
from tests.wallet.apns_standin import ApnsStandIn
from tests.wallet.conftest import NOW, PASS_TYPE_ID, TEAM_ID
from wallet.apple.apns import ApnsSender, ApnsSettings
from wallet.devcerts import make_apns_key
from wallet.issuer import PassIssuer

SERIAL = "LPUSHSERIAL01"


@pytest.fixture
def apns(tmp_path):
    server = ApnsStandIn(tmp_path / "apns-tls")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def apns_key():
    return make_apns_key()


@pytest.fixture
def sender(apns, apns_key):
    context = ssl.create_default_context(cafile=str(apns.ca_file))
    settings = ApnsSettings(team_id=TEAM_ID, key_id="KEY1234567", key_pem=apns_key, url=apns.url)
    sender = ApnsSender(settings, verify=context)
    yield sender
    sender.close()


@pytest.fixture
def db(tmp_path):
    db = CentralDb(f"sqlite://{tmp_path / 'central.sqlite3'}")
    db.create_schema()
    yield db
    db.close()


def registered(db, *tokens):
    """The centre's pass held by a device per token; the pass then changes: a push per
    device is queued."""
    with db.transaction():
        db.execute(
            "INSERT INTO wallet_passes (serial, customer_id, kind, platform, status, code,"
            " pass_type_id, auth_token, update_tag, issued_at, updated_at) VALUES (%s, 'C1',"
            " 'loyalty', 'apple', 'active', 'EP1:X', %s, %s, 1, %s, %s)",
            [SERIAL, PASS_TYPE_ID, "t" * 20, to_iso(NOW), to_iso(NOW)],
        )
        for number, token in enumerate(tokens):
            db.execute(
                "INSERT INTO wallet_registrations (device_id, pass_type_id, serial, push_token,"
                " registered_at) VALUES (%s, %s, %s, %s, %s)",
                [f"dev-{number}", PASS_TYPE_ID, SERIAL, token, to_iso(NOW)],
            )
        assert queue_pushes(db, SERIAL, PASS_TYPE_ID, NOW) == len(tokens)


def queued(db):
    return db.execute(
        "SELECT push_token, attempts FROM wallet_push_queue ORDER BY push_token"
    ).fetchall()


def test_push_goes_over_http2_with_an_es256_provider_token(db, apns, sender, apns_key):
    registered(db, "token-ok")
    report = send_queued_pushes(db, sender)
    assert (report.delivered, report.unregistered, report.failed) == (1, 0, 0)
    assert queued(db) == []
    (push,) = apns.received
    assert push.path == "/3/device/token-ok"
    assert push.headers["apns-topic"] == PASS_TYPE_ID
    assert push.body == b"{}"
    scheme, token = push.headers["authorization"].split(" ", 1)
    assert scheme == "bearer"
    public = serialization.load_pem_private_key(apns_key, None).public_key()
    public_pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # APNs tokens carry no "exp", which google_jwt.decode insists on: check the ES256
    # signature with google-auth's verifier directly, then read the claims.
    signed, _, signature = token.rpartition(".")
    verifier = ES256Verifier.from_string(public_pem)
    assert verifier.verify(signed.encode(), base64.urlsafe_b64decode(signature + "=="))
    claims = google_jwt.decode(token, verify=False)
    assert claims["iss"] == TEAM_ID
    assert abs(claims["iat"] - time.time()) < 600
    header = google_jwt.decode_header(token)
    assert (header["alg"], header["kid"]) == ("ES256", "KEY1234567")


def test_410_removes_the_registration(db, apns, sender):
    registered(db, "token-gone", "token-ok")
    apns.answers["token-gone"] = 410
    report = send_queued_pushes(db, sender)
    assert (report.delivered, report.unregistered) == (1, 1)
    tokens = [r[0] for r in db.execute("SELECT push_token FROM wallet_registrations")]
    assert tokens == ["token-ok"]


def test_other_errors_keep_the_push_queued_for_a_retry(db, apns, sender):
    registered(db, "token-busy")
    apns.answers["token-busy"] = 503
    report = send_queued_pushes(db, sender)
    assert report.failed == 1
    assert queued(db) == [("token-busy", 1)]
    apns.answers["token-busy"] = 200
    assert send_queued_pushes(db, sender).delivered == 1
    assert queued(db) == []


def test_unreachable_apns_keeps_the_push(db, apns_key):
    registered(db, "token-x")
    settings = ApnsSettings(TEAM_ID, "KEY1234567", apns_key, url="https://127.0.0.1:9")
    sender = ApnsSender(settings)
    try:
        assert send_queued_pushes(db, sender).failed == 1
    finally:
        sender.close()
    assert len(queued(db)) == 1


def test_the_centre_updater_sends_queued_pushes_in_the_background(db, apns, sender, signer):
    registered(db, "token-bg")
    updater = WalletUpdater(db.url, PassIssuer(signer), sender, round_seconds=0.05)
    updater.start()
    try:
        deadline = time.monotonic() + 10
        while queued(db) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        updater.stop()
    assert queued(db) == []
    assert [p.path for p in apns.received] == ["/3/device/token-bg"]
    assert updater.counters.pushes.delivered == 1
