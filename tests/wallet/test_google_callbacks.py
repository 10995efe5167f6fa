"""Google Wallet save/delete callbacks: Google's ECv2SigningOnly signatures checked
with `cryptography`, each refusal saying which check failed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.wallet.google_callback_sender import GoogleCallbackSender
from wallet.errors import WalletFailure
from wallet.google.callbacks import CallbackRefused, CallbackVerifier, parse_root_keys

ISSUER = "3388000000012345678"
OBJECT = f"{ISSUER}.LSERIAL000001"


@pytest.fixture(scope="module")
def google() -> GoogleCallbackSender:
    return GoogleCallbackSender(ISSUER)


@pytest.fixture
def verifier(google) -> CallbackVerifier:
    return CallbackVerifier(ISSUER, parse_root_keys(google.keys_json()))


def now() -> datetime:
    return datetime.now(UTC)


def test_a_genuine_callback_says_what_happened(google, verifier):
    callback = verifier.verify(google.callback(OBJECT, "del", nonce="n-1"), now())
    assert (callback.object_id, callback.event, callback.nonce) == (OBJECT, "del", "n-1")
    assert callback.class_id == f"{ISSUER}.loyalty"


def test_a_changed_message_fails_its_signature(google, verifier):
    body = json.loads(google.callback(OBJECT, "save"))
    body["signedMessage"] = body["signedMessage"].replace('"save"', '"del"')
    with pytest.raises(CallbackRefused, match="message signature"):
        verifier.verify(json.dumps(body).encode(), now())


def test_an_intermediate_key_not_signed_by_google_is_refused(google, verifier):
    from cryptography.hazmat.primitives.asymmetric import ec

    forged = google.callback(OBJECT, root=ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CallbackRefused, match="not signed by a Google root key"):
        verifier.verify(forged, now())


def test_a_message_for_another_issuer_is_refused(google, verifier):
    with pytest.raises(CallbackRefused, match="for this issuer"):
        verifier.verify(google.callback(OBJECT, recipient="1234567"), now())


def test_expired_messages_and_intermediate_keys_are_refused(google, verifier):
    with pytest.raises(CallbackRefused, match="message has expired"):
        verifier.verify(google.callback(OBJECT, expires_in_ms=-1), now())
    with pytest.raises(CallbackRefused, match="intermediate signing key has expired"):
        verifier.verify(google.callback(OBJECT), now() + timedelta(hours=2))


def test_an_expired_root_key_verifies_nothing(google):
    keys = json.loads(google.keys_json())
    keys["keys"][0]["keyExpiration"] = "1000"
    verifier = CallbackVerifier(ISSUER, parse_root_keys(json.dumps(keys).encode()))
    with pytest.raises(CallbackRefused, match="root key"):
        verifier.verify(google.callback(OBJECT), now())


@pytest.mark.parametrize(
    "body",
    [b"", b"[]", b'{"protocolVersion": "ECv1"}', b"x" * 20_000, b'{"signature": 1}'],
)
def test_junk_is_refused_with_a_reason(verifier, body):
    with pytest.raises(CallbackRefused) as refused:
        verifier.verify(body, now())
    assert refused.value.message


def test_a_key_file_without_signing_only_keys_is_refused():
    with pytest.raises(WalletFailure, match="no ECv2SigningOnly key"):
        parse_root_keys(b'{"keys": [{"keyValue": "x", "protocolVersion": "ECv2"}]}')
    with pytest.raises(WalletFailure, match="not readable"):
        parse_root_keys(b"not json")
