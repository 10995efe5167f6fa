"""The public keys a store checks pass codes with: installed files plus the centre's
broadcast key set, swapped at run time when the centre rotates or withdraws a key.

The centre publishes its key set (retained) to every store; a store that joins later, or
was offline during a rotation, gets the newest on connect. Keys are public: the worst a
forged key set could do is add a key, and only the centre may publish under `broadcast/`
(broker ACL). A withdrawn key is refused even when its file is still installed, so a
compromised signing key is shut out fleet-wide without touching a device.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from wallet.errors import WalletError

# 256 key ids at ~60 bytes each: anything much bigger is not a key set.
MAX_KEY_SET_BYTES = 64 * 1024


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: int = Field(ge=0, le=255)
    # Raw 32-byte Ed25519 public key, standard base64.
    public_key: str = Field(min_length=44, max_length=44)


class KeySet(BaseModel):
    """The centre's broadcast: every key stores should accept, and ids never to accept."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(ge=1)
    keys: tuple[KeyEntry, ...] = Field(max_length=256)
    withdrawn: tuple[int, ...] = Field((), max_length=256)

    def public_keys(self) -> dict[int, Ed25519PublicKey]:
        return {entry.id: _raw_key(entry.public_key) for entry in self.keys}

    def to_json(self) -> str:
        return self.model_dump_json()


def build_key_set(
    version: int, keys: Mapping[int, Ed25519PublicKey], withdrawn: Iterable[int] = ()
) -> KeySet:
    """The broadcast for `keys` (public keys only; a private key never leaves the centre)."""
    withdrawn = tuple(sorted(set(withdrawn)))
    if overlap := set(withdrawn) & set(keys):
        raise WalletError(f"key(s) {sorted(overlap)} cannot be both offered and withdrawn")
    entries = [
        KeyEntry(
            id=key_id,
            public_key=base64.b64encode(
                key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            ).decode(),
        )
        for key_id, key in sorted(keys.items())
    ]
    return KeySet(version=version, keys=tuple(entries), withdrawn=withdrawn)


def parse_key_set(payload: bytes | str) -> KeySet:
    """A validated key set; raises WalletError saying what is wrong."""
    if len(payload) > MAX_KEY_SET_BYTES:
        raise WalletError(f"oversized key set: {len(payload)} bytes")
    try:
        key_set = KeySet.model_validate(json.loads(payload))
        key_set.public_keys()  # every key must decode
    except (ValueError, ValidationError) as exc:
        raise WalletError(f"not a usable key set: {exc}") from None
    if set(key_set.withdrawn) & {entry.id for entry in key_set.keys}:
        raise WalletError("not a usable key set: a key is both offered and withdrawn")
    return key_set


class PassKeyRing:
    """Thread-safe: scans and web requests read while the sync thread swaps a key set in.
    `version` changes with every swap so verifiers know to drop what they cached."""

    def __init__(self, installed: Mapping[int, Ed25519PublicKey] | None = None) -> None:
        self._installed = dict(installed or {})
        self._broadcast: KeySet | None = None
        self._lock = threading.Lock()
        self._keys = dict(self._installed)
        self.version = 0

    @property
    def key_set_version(self) -> int:
        """The centre's key set in use (0: none received)."""
        return self._broadcast.version if self._broadcast else 0

    def get(self, key_id: int) -> Ed25519PublicKey | None:
        return self._keys.get(key_id)

    def key_ids(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    def use_key_set(self, key_set: KeySet) -> bool:
        """Take the centre's key set if newer than the one in use; True if taken."""
        with self._lock:
            if self._broadcast is not None and key_set.version <= self._broadcast.version:
                return False
            keys = {**self._installed, **key_set.public_keys()}
            for key_id in key_set.withdrawn:
                keys.pop(key_id, None)
            self._broadcast = key_set
            self._keys = keys  # one reference swap: readers see the old or the new set
            self.version += 1
            return True


def _raw_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"public key is not a base64 Ed25519 key: {exc}") from None
