"""Pass-code signing keys on disk: the centre's private key, the stores' public keys.

Layout of a key directory (what `edge-agent wallet keys` writes and the agent reads):

    pass-signing-<id>.pub   Ed25519 public key, PEM (SubjectPublicKeyInfo) - every store
    pass-signing-<id>.key   Ed25519 private key, PEM (PKCS#8), mode 0600 - the centre only

A store needs only the .pub files; keeping the .key off store devices is what makes a
stolen till unable to mint passes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wallet.errors import WalletError

_PUBLIC_FILE = re.compile(r"^pass-signing-(\d{1,3})\.pub$")


def public_key_path(directory: Path, key_id: int) -> Path:
    return directory / f"pass-signing-{key_id}.pub"


def private_key_path(directory: Path, key_id: int) -> Path:
    return directory / f"pass-signing-{key_id}.key"


def write_signing_key(directory: Path, key_id: int) -> Ed25519PrivateKey:
    """Create a new key pair for `key_id`; refuses to overwrite an existing one."""
    if not 0 <= key_id <= 255:
        raise WalletError("a pass signing key id is 0-255")
    directory.mkdir(parents=True, exist_ok=True)
    private_path = private_key_path(directory, key_id)
    if private_path.exists() or public_key_path(directory, key_id).exists():
        raise WalletError(
            f"{private_path.parent}: key {key_id} exists already; pick another --key-id "
            "(passes signed with the old key would stop verifying if it were replaced)"
        )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_secret(private_path, pem)
    public_key_path(directory, key_id).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return key


def load_public_keys(directory: Path) -> dict[int, Ed25519PublicKey]:
    """Every `pass-signing-<id>.pub` in `directory`, by key id."""
    if not directory.is_dir():
        raise WalletError(f"{directory}: pass key directory not found")
    keys: dict[int, Ed25519PublicKey] = {}
    for path in sorted(directory.iterdir()):
        match = _PUBLIC_FILE.match(path.name)
        if match is None:
            continue
        key_id = int(match.group(1))
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except ValueError as exc:
            raise WalletError(f"{path}: not a PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise WalletError(f"{path}: not an Ed25519 public key")
        if key_id > 255:
            raise WalletError(f"{path}: key ids are 0-255")
        keys[key_id] = key
    return keys


def load_signing_key(directory: Path, key_id: int) -> Ed25519PrivateKey:
    path = private_key_path(directory, key_id)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise WalletError(
            f"{path}: signing key not found; passes are signed where the private key is "
            "(the centre), not on store devices"
        ) from None
    except ValueError as exc:
        raise WalletError(f"{path}: not a PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise WalletError(f"{path}: not an Ed25519 private key")
    return key


def write_secret(path: Path, data: bytes) -> None:
    """Write `data` readable by the owner only, from the first byte (no chmod race)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
