"""The `signature` file of a .pkpass: detached PKCS#7 (DER) over manifest.json.

Apple's rules: signed by the Pass Type ID certificate, the WWDR intermediate included,
signing time among the signed attributes, binary mode (the manifest's bytes are signed
as they are, no MIME canonicalisation). `cryptography`'s builder does all of this; the
design card's `passbook` package cannot run on Python 3 (its `models.py` does
`from StringIO import StringIO` and needs M2Crypto).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from wallet.errors import WalletError


@dataclass(frozen=True)
class PassSigningIdentity:
    """The Pass Type ID certificate and key, and the WWDR intermediate that issued it."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    wwdr: x509.Certificate

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, wwdr_pem: bytes) -> PassSigningIdentity:
        try:
            certificate = x509.load_pem_x509_certificate(cert_pem)
            wwdr = x509.load_pem_x509_certificate(wwdr_pem)
            key = serialization.load_pem_private_key(key_pem, password=None)
        except ValueError as exc:
            raise WalletError(
                f"Apple pass certificate, key or WWDR file unreadable: {exc}"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise WalletError("the Apple pass key must be RSA or EC")
        if _spki(key.public_key()) != _spki(certificate.public_key()):
            raise WalletError("the Apple pass key does not belong to the pass certificate")
        return cls(certificate, key, wwdr)


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign_manifest(manifest: bytes, identity: PassSigningIdentity) -> bytes:
    """Detached PKCS#7 signature, DER, with the signer and WWDR certificates."""
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(manifest)
        .add_signer(identity.certificate, identity.private_key, hashes.SHA256())
        .add_certificate(identity.wwdr)
        .sign(
            serialization.Encoding.DER,
            [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary],
        )
    )
