import base64
import ssl
import time

import pytest
from cryptography.hazmat.primitives import serialization
from google.auth import jwt as google_jwt
from google.auth.crypt.es256 import ES256Verifier

from tests.wallet.apns_standin import ApnsStandIn
from tests.wallet.conftest import NOW, PASS_TYPE_ID, TEAM_ID
from wallet.apple import registry
from wallet.apple.apns import ApnsSender, ApnsSettings, drain_push_queue
from wallet.devcerts import make_apns_key

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


def registered(ctx, *tokens):
    registry.save_pass(
        ctx.store,
        serial=SERIAL,
        pass_type_id=PASS_TYPE_ID,
        auth_token="t" * 20,
        pkpass=b"v1",
        at=NOW,
    )
    for number, token in enumerate(tokens):
        registry.register_device(
            ctx.store,
            device_id=f"dev-{number}",
            push_token=token,
            pass_type_id=PASS_TYPE_ID,
            serial=SERIAL,
            at=NOW,
        )
    # the pass changes: a push per device is queued
    registry.save_pass(
        ctx.store,
        serial=SERIAL,
        pass_type_id=PASS_TYPE_ID,
        auth_token="t" * 20,
        pkpass=b"v2",
        at=NOW,
    )


def test_push_goes_over_http2_with_an_es256_provider_token(wallet_agent, apns, sender, apns_key):
    registered(wallet_agent, "token-ok")
    report = drain_push_queue(wallet_agent.store, sender)
    assert (report.delivered, report.unregistered, report.failed) == (1, 0, 0)
    assert registry.pending_pushes(wallet_agent.store) == []
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


def test_410_removes_the_registration(wallet_agent, apns, sender):
    registered(wallet_agent, "token-gone", "token-ok")
    apns.answers["token-gone"] = 410
    report = drain_push_queue(wallet_agent.store, sender)
    assert (report.delivered, report.unregistered) == (1, 1)
    tokens = [
        r[0] for r in wallet_agent.store.db.execute("SELECT push_token FROM apple_registrations")
    ]
    assert tokens == ["token-ok"]


def test_other_errors_keep_the_push_queued_for_a_retry(wallet_agent, apns, sender):
    registered(wallet_agent, "token-busy")
    apns.answers["token-busy"] = 503
    report = drain_push_queue(wallet_agent.store, sender)
    assert report.failed == 1
    (queued,) = registry.pending_pushes(wallet_agent.store)
    assert queued.attempts == 1
    apns.answers["token-busy"] = 200
    assert drain_push_queue(wallet_agent.store, sender).delivered == 1
    assert registry.pending_pushes(wallet_agent.store) == []


def test_unreachable_apns_keeps_the_push(wallet_agent, apns_key):
    registered(wallet_agent, "token-x")
    settings = ApnsSettings(TEAM_ID, "KEY1234567", apns_key, url="https://127.0.0.1:9")
    sender = ApnsSender(settings)
    try:
        assert drain_push_queue(wallet_agent.store, sender).failed == 1
    finally:
        sender.close()
    assert len(registry.pending_pushes(wallet_agent.store)) == 1


def test_push_worker_sends_queued_pushes_in_the_background(wallet_agent, apns, sender):
    from wallet.apple.push_worker import PushWorker

    registered(wallet_agent, "token-bg")
    worker = PushWorker(wallet_agent.store, sender, interval=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while registry.pending_pushes(wallet_agent.store) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert registry.pending_pushes(wallet_agent.store) == []
    assert [p.path for p in apns.received] == ["/3/device/token-bg"]


def test_daemon_has_no_push_worker_without_an_apns_key(wallet_agent):
    from edge_agent.wallet_setup import load_push_worker

    assert load_push_worker(wallet_agent) is None
