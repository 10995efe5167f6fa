"""A stand-in for Google's side of Wallet save/delete callbacks: a root key published as
Google publishes its keys, an intermediate key the root signs, and callback messages the
intermediate signs, in the ECv2SigningOnly layout (4-byte little-endian lengths)."""

from __future__ import annotations

import base64
import json
import secrets
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SENDER_ID = "GooglePayPasses"
PROTOCOL = "ECv2SigningOnly"


class GoogleCallbackSender:
    def __init__(self, issuer_id: str) -> None:
        self.issuer_id = issuer_id
        self.root = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = ec.generate_private_key(ec.SECP256R1())

    def keys_json(self) -> bytes:
        """What https://pay.google.com/gp/m/issuer/keys serves, for our root key."""
        expiry = int((time.time() + 86400) * 1000)
        return json.dumps(
            {"keys": [{"keyValue": _spki(self.root), "protocolVersion": PROTOCOL,
                       "keyExpiration": str(expiry)}]}
        ).encode()  # fmt: skip

    def callback(
        self,
        object_id: str,
        event: str = "save",
        *,
        nonce: str | None = None,
        recipient: str | None = None,
        root: ec.EllipticCurvePrivateKey | None = None,
        expires_in_ms: int = 60_000,
    ) -> bytes:
        now_ms = int(time.time() * 1000)
        signed_key = json.dumps(
            {"keyValue": _spki(self.intermediate), "keyExpiration": str(now_ms + 3_600_000)}
        )
        key_signature = (root or self.root).sign(
            _lv(SENDER_ID, PROTOCOL, signed_key), ec.ECDSA(hashes.SHA256())
        )
        message = json.dumps(
            {"classId": f"{self.issuer_id}.loyalty", "objectId": object_id, "eventType": event,
             "expTimeMillis": now_ms + expires_in_ms, "count": 1,
             "nonce": nonce or secrets.token_hex(16)}
        )  # fmt: skip
        signature = self.intermediate.sign(
            _lv(SENDER_ID, recipient or self.issuer_id, PROTOCOL, message),
            ec.ECDSA(hashes.SHA256()),
        )
        return json.dumps(
            {"signature": _b64(signature), "protocolVersion": PROTOCOL,
             "intermediateSigningKey": {"signedKey": signed_key,
                                        "signatures": [_b64(key_signature)]},
             "signedMessage": message}
        ).encode()  # fmt: skip


def _lv(*parts: str) -> bytes:
    out = b""
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(4, "little") + raw
    return out


def _spki(key: ec.EllipticCurvePrivateKey) -> str:
    return _b64(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
