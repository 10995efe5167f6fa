"""Google Wallet save/delete callbacks: checking Google's signature (ECv2SigningOnly).

Google posts a JSON message to the class's callback URL:

    {"signature": b64, "intermediateSigningKey": {"signedKey": "<json>", "signatures":
     [b64, ...]}, "protocolVersion": "ECv2SigningOnly", "signedMessage": "<json>"}

Checked as Google's payment-method-token protocol says (Tink's PaymentMethodTokenRecipient
in Java; the Python Tink release has no such module, so it is done here with
`cryptography`): one of Google's root keys (ECDSA P-256, published as JSON) signs the
intermediate key, which must not have expired; the intermediate key signs the message
for this issuer. Each signed byte string is its parts, each as a 4-byte little-endian
length and the bytes: sender id "GooglePayPasses", (recipient id = issuer id, message
only), protocol version, the signed text. The message says classId, objectId,
eventType ("save"/"del"), expTimeMillis and a nonce; an expired message is refused, and
the caller drops a nonce it has seen (Google retries, and an attacker may replay).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from wallet.errors import WalletFailure

SENDER_ID = "GooglePayPasses"
PROTOCOL_VERSION = "ECv2SigningOnly"
# A callback is a few hundred bytes; refuse anything far bigger before parsing it.
MAX_CALLBACK_BYTES = 16 * 1024


class CallbackRefused(WalletFailure):
    """Not a genuine, current Google Wallet callback for this issuer."""

    code = "callback_refused"
    http_status = 400


@dataclass(frozen=True)
class RootKey:
    key: ec.EllipticCurvePublicKey
    expires_ms: int | None


@dataclass(frozen=True)
class WalletCallback:
    class_id: str
    object_id: str
    event: Literal["save", "del"]
    nonce: str
    expires_ms: int


def parse_root_keys(payload: bytes) -> tuple[RootKey, ...]:
    """Google's published keys (`{"keys": [{"keyValue", "protocolVersion",
    "keyExpiration"}]}`), the ECv2SigningOnly ones only."""
    try:
        entries = json.loads(payload)["keys"]
        keys = []
        for entry in entries:
            if entry.get("protocolVersion") != PROTOCOL_VERSION:
                continue
            expiry = entry.get("keyExpiration")
            keys.append(RootKey(_public_key(entry["keyValue"]), int(expiry) if expiry else None))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise WalletFailure(f"Google's callback keys are not readable: {exc}") from None
    if not keys:
        raise WalletFailure("Google's callback key file holds no ECv2SigningOnly key")
    return tuple(keys)


class CallbackVerifier:
    def __init__(self, issuer_id: str, root_keys: Sequence[RootKey]) -> None:
        self._recipient = issuer_id
        self._roots = tuple(root_keys)

    def verify(self, body: bytes, now: datetime) -> WalletCallback:
        """The callback in `body` if Google signed it for this issuer and it is current;
        else CallbackRefused saying which check failed."""
        now_ms = int(now.timestamp() * 1000)
        if len(body) > MAX_CALLBACK_BYTES:
            raise CallbackRefused("callback too large")
        try:
            message = json.loads(body)
            protocol = message["protocolVersion"]
            signature = _b64(message["signature"])
            signed_key_text = message["intermediateSigningKey"]["signedKey"]
            key_signatures = [_b64(s) for s in message["intermediateSigningKey"]["signatures"]]
            signed_message = message["signedMessage"]
            if not all(isinstance(v, str) for v in (protocol, signed_key_text, signed_message)):
                raise TypeError("text fields must be strings")
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRefused(f"not a Google Wallet callback: {exc}") from None
        if protocol != PROTOCOL_VERSION:
            raise CallbackRefused(f"protocol {protocol!r} is not {PROTOCOL_VERSION}")
        key_bytes = _length_values(SENDER_ID, protocol, signed_key_text)
        roots = [r for r in self._roots if r.expires_ms is None or r.expires_ms > now_ms]
        if not any(_verifies(r.key, s, key_bytes) for r in roots for s in key_signatures):
            raise CallbackRefused("the intermediate key is not signed by a Google root key")
        try:
            signed_key = json.loads(signed_key_text)
            intermediate = _public_key(signed_key["keyValue"])
            key_expiry = int(signed_key["keyExpiration"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRefused(f"unreadable intermediate key: {exc}") from None
        if key_expiry <= now_ms:
            raise CallbackRefused("the intermediate signing key has expired")
        message_bytes = _length_values(SENDER_ID, self._recipient, protocol, signed_message)
        if not _verifies(intermediate, signature, message_bytes):
            raise CallbackRefused("the message signature does not verify for this issuer")
        try:
            data = json.loads(signed_message)
            callback = WalletCallback(
                class_id=str(data["classId"]),
                object_id=str(data["objectId"]),
                event=data["eventType"],
                nonce=str(data["nonce"]),
                expires_ms=int(data["expTimeMillis"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRefused(f"unreadable signed message: {exc}") from None
        if callback.event not in ("save", "del"):
            raise CallbackRefused(f"unknown event type {callback.event!r}")
        if not 0 < len(callback.nonce) <= 128:
            raise CallbackRefused("the nonce is missing or too long")
        if callback.expires_ms <= now_ms:
            raise CallbackRefused("the callback message has expired")
        return callback


def signed_bytes(*parts: str) -> bytes:
    """What is signed: each part as a 4-byte little-endian length and its UTF-8 bytes."""
    return _length_values(*parts)


def _length_values(*parts: str) -> bytes:
    out = bytearray()
    for part in parts:
        raw = part.encode("utf-8")
        out += len(raw).to_bytes(4, "little") + raw
    return bytes(out)


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def _public_key(text: str) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(_b64(text))
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def _b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise TypeError("expected base64 text")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None
