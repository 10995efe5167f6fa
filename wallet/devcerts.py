"""Throw-away credentials for development and tests, never for production.

- a CA standing in for Apple's WWDR intermediate, and a "Pass Type ID" certificate it
  issued (subject UID = pass type id, OU = team id, as Apple's are);
- an ES256 APNs auth key (Apple hands out a .p8 of this shape);
- a Google service-account JSON key (RSA) with its self-signed certificate, as the
  Google Cloud console would download it, with `token_uri` pointing where you say.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

VALIDITY = dt.timedelta(days=365)


@dataclass(frozen=True)
class AppleDevCredentials:
    wwdr_cert_pem: bytes
    pass_cert_pem: bytes
    pass_key_pem: bytes


def make_apple_credentials(
    pass_type_id: str, team_id: str, now: dt.datetime | None = None
) -> AppleDevCredentials:
    now = now or dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Test WWDR stand-in (NOT Apple)"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edge-agent development"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pass_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pass_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.USER_ID, pass_type_id),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_id}"),
                    x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_id),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "edge-agent development"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(pass_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return AppleDevCredentials(
        wwdr_cert_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
        pass_cert_pem=pass_cert.public_bytes(serialization.Encoding.PEM),
        pass_key_pem=_pkcs8(pass_key),
    )


def make_apns_key() -> bytes:
    """An ES256 (P-256) private key in PKCS#8 PEM, the shape of Apple's AuthKey_*.p8."""
    return _pkcs8(ec.generate_private_key(ec.SECP256R1()))


def make_service_account(
    token_uri: str,
    email: str = "wallet-dev@edge-agent-dev.iam.gserviceaccount.com",
    now: dt.datetime | None = None,
) -> tuple[dict[str, Any], bytes]:
    """(service-account JSON info, its public certificate PEM) with a fresh RSA key."""
    now = now or dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_id = x509.random_serial_number().to_bytes(20, "big").hex()[:40]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, email)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .sign(key, hashes.SHA256())
    )
    info = {
        "type": "service_account",
        "project_id": "edge-agent-dev",
        "private_key_id": key_id,
        "private_key": _pkcs8(key).decode(),
        "client_email": email,
        "client_id": "100000000000000000000",
        "token_uri": token_uri,
    }
    return info, cert.public_bytes(serialization.Encoding.PEM)


def service_account_json(info: dict[str, Any]) -> str:
    return json.dumps(info, indent=2)


def _pkcs8(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
