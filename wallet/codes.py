"""Pass codes: the compact signed text in the barcode of every pass.

Text form: ``EP1:`` then unpadded RFC 4648 base32 (A-Z, 2-7), so the whole code stays in
QR alphanumeric mode. The bytes inside (version 1, big-endian):

    kind(1) key_id(1) issued_at(4) expires_at(4, 0 = never) ref_len(1) ref(ref_len)
    signature(64)  crc16(2)

- The signature is Ed25519 over ``b"EP1:" + body`` (body: everything before it), so the
  version in the text prefix is signed too. The centre signs with a private key; a store
  holds public keys only, by key id, so keys rotate and a stolen till cannot mint passes.
- The CRC-16 (CCITT) over body + signature tells a damaged or hand-edited code
  ("altered") from a well-formed code that our key never signed ("bad signature"). It is
  not a security check: a forger can recompute it; the signature is the proof.

A typical loyalty code (the issuer's 13-character serial, no expiry) is 24 + 64 + 2 = 90
bytes: 144 base32 characters, 148 with the prefix. QR version 6 (41x41 modules) holds 154
alphanumeric characters at error correction level M, so it fits; the longest possible code
(40-character reference) is 192 characters, QR version 8-M. `tests/wallet/test_codes.py`
checks both with segno.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from wallet.errors import (
    AlteredPassCode,
    BadPassSignature,
    ExpiredPass,
    MalformedPassCode,
    RevokedPass,
    UnknownPassKey,
    WrongPassKind,
)
from wallet.keyring import PassKeyRing

PassKind = Literal["loyalty", "coupon", "pickup"]
PASS_KINDS: tuple[PassKind, ...] = ("loyalty", "coupon", "pickup")
VERSION = 1
PREFIX = f"EP{VERSION}:"
# Serials and order references are short ASCII ids; 40 keeps the longest code within QR
# version 8-M, and refuses junk early.
MAX_REFERENCE_LENGTH = 40
_REFERENCE = re.compile(rb"^[A-Za-z0-9._-]{1,40}$")
_HEADER = struct.Struct(">BBIIB")
_SIGNATURE_LENGTH = 64
_CRC_LENGTH = 2
_MIN_BYTES = _HEADER.size + 1 + _SIGNATURE_LENGTH + _CRC_LENGTH
_MAX_BYTES = _HEADER.size + MAX_REFERENCE_LENGTH + _SIGNATURE_LENGTH + _CRC_LENGTH
# Anything longer cannot be one of our codes; stop before decoding megabytes of junk.
MAX_CODE_LENGTH = len(PREFIX) + (_MAX_BYTES * 8 + 4) // 5
# The text form, as a pattern others build on (rotating codes, the agent's classifier).
CODE_PATTERN = r"EP(?P<version>[0-9]):(?P<data>[A-Z2-7]+)"
_CODE = re.compile(rf"^{CODE_PATTERN}$")
_KIND_BYTES: dict[PassKind, int] = {"loyalty": 1, "coupon": 2, "pickup": 3}
_BYTE_KINDS: dict[int, PassKind] = {v: k for k, v in _KIND_BYTES.items()}
# Codes whose signature already checked out, so a pass scanned again at the kiosk and then
# the till skips the Ed25519 verification (the dearest step by far). Expiry, revocation
# and kind are still checked on every scan. Bounded: a scan storm cannot grow memory.
VERIFIED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class PassClaims:
    """What a pass code says, once its signature is checked."""

    kind: PassKind
    key_id: int
    reference: str  # pass serial (loyalty, coupon) or order reference (pickup)
    issued_at: datetime
    expires_at: datetime | None = None


class PassSigner:
    """The centre's side: turns claims into a signed pass code."""

    def __init__(self, key_id: int, private_key: Ed25519PrivateKey) -> None:
        if not 0 <= key_id <= 255:
            raise ValueError("key ids are 0-255 (one byte in the code)")
        self.key_id = key_id
        self._key = private_key

    def sign(
        self,
        kind: PassKind,
        reference: str,
        issued_at: datetime,
        expires_at: datetime | None = None,
    ) -> str:
        body = _encode_body(kind, self.key_id, reference, issued_at, expires_at)
        signature = self._key.sign(PREFIX.encode() + body)
        raw = body + signature
        raw += binascii.crc_hqx(raw, 0).to_bytes(_CRC_LENGTH, "big")
        return PREFIX + base64.b32encode(raw).decode().rstrip("=")


class PassVerifier:
    """A store's side: checks codes with the centre's public keys only."""

    def __init__(
        self,
        public_keys: Mapping[int, Ed25519PublicKey] | PassKeyRing,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        # A ring may change under us (the centre rotates keys); a plain mapping never does.
        self._keys = (
            public_keys if isinstance(public_keys, PassKeyRing) else (PassKeyRing(public_keys))
        )
        self._keys_version = self._keys.version
        self._verified: OrderedDict[str, PassClaims] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    @property
    def key_ids(self) -> tuple[int, ...]:
        return self._keys.key_ids()

    def verify(
        self,
        text: str,
        *,
        now: datetime,
        kinds: Collection[PassKind] = PASS_KINDS,
        revoked: Container[str] = (),
    ) -> PassClaims:
        """The claims of a genuine, current code of one of `kinds`; else a `PassRefused`.

        Checks run cheapest first; each refusal has its own exception and code.
        """
        if self._keys_version != self._keys.version:
            # A withdrawn key's codes must stop verifying now, not when they age out.
            with self._cache_lock:
                self._verified.clear()
                self._keys_version = self._keys.version
        claims = self._verified.get(text)
        if claims is None:
            claims = self._check_signature(text)
        if claims.expires_at is not None and now >= claims.expires_at:
            raise ExpiredPass()
        if claims.reference in revoked:
            raise RevokedPass()
        if claims.kind not in kinds:
            raise WrongPassKind(claims.kind, tuple(kinds))
        return claims

    def _check_signature(self, text: str) -> PassClaims:
        body, signature = _split(text)
        claims = _decode_body(body)
        key = self._keys.get(claims.key_id)
        if key is None:
            raise UnknownPassKey(claims.key_id)
        try:
            key.verify(signature, PREFIX.encode() + body)
        except InvalidSignature:
            raise BadPassSignature() from None
        if self._cache_size:
            with self._cache_lock:
                if self._keys_version != self._keys.version:
                    return claims  # keys changed mid-check: do not cache under the old set
                self._verified[text] = claims
                if len(self._verified) > self._cache_size:
                    self._verified.popitem(last=False)
        return claims


def looks_like_pass_code(text: str) -> bool:
    """True for anything shaped like a pass code (any version); says nothing of validity."""
    return _CODE.match(text.strip()) is not None


def _encode_body(
    kind: PassKind,
    key_id: int,
    reference: str,
    issued_at: datetime,
    expires_at: datetime | None,
) -> bytes:
    ref = reference.encode("ascii", errors="replace")
    if not _REFERENCE.match(ref):
        raise ValueError(
            f"pass reference {reference!r} must be 1-{MAX_REFERENCE_LENGTH} characters "
            "of A-Z, a-z, 0-9, '.', '_' or '-'"
        )
    expires = 0 if expires_at is None else _seconds(expires_at)
    return _HEADER.pack(_KIND_BYTES[kind], key_id, _seconds(issued_at), expires, len(ref)) + ref


def _split(text: str) -> tuple[bytes, bytes]:
    """Text -> (body, signature), refusing anything malformed or damaged."""
    if not isinstance(text, str) or len(text) > MAX_CODE_LENGTH + 8:
        raise MalformedPassCode()
    match = _CODE.match(text.strip())
    if match is None:
        raise MalformedPassCode()
    if int(match["version"]) != VERSION:
        raise MalformedPassCode(
            f"pass code version {match['version']} is not known to this agent; update the agent"
        )
    raw = _b32decode(match["data"])
    if not _MIN_BYTES <= len(raw) <= _MAX_BYTES:
        raise MalformedPassCode("this pass code is cut short or too long; scan it again")
    ref_len = raw[_HEADER.size - 1]
    if len(raw) != _HEADER.size + ref_len + _SIGNATURE_LENGTH + _CRC_LENGTH:
        raise MalformedPassCode("this pass code is cut short or too long; scan it again")
    crc = int.from_bytes(raw[-_CRC_LENGTH:], "big")
    if binascii.crc_hqx(raw[:-_CRC_LENGTH], 0) != crc:
        raise AlteredPassCode()
    body_end = _HEADER.size + ref_len
    return raw[:body_end], raw[body_end:-_CRC_LENGTH]


# RFC 4648 base32 digits -> the digits int(..., 32) reads ("0-9a-v"), so decoding is one
# C-level int() call: base64.b32decode loops in Python and cost more than the signature.
_B32_TO_INT_DIGITS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv"
)


def _b32decode(data: str) -> bytes:
    """Unpadded base32 -> bytes; the unused low bits of the last character must be zero."""
    length = len(data) * 5 // 8
    spare = len(data) * 5 - length * 8
    value = int(data.translate(_B32_TO_INT_DIGITS), 32)
    if spare >= 5 or value & ((1 << spare) - 1):
        raise MalformedPassCode()  # not what b32encode of any byte string gives
    return (value >> spare).to_bytes(length, "big")


def _decode_body(body: bytes) -> PassClaims:
    kind_byte, key_id, issued, expires, _ref_len = _HEADER.unpack_from(body)
    kind = _BYTE_KINDS.get(kind_byte)
    ref = body[_HEADER.size :]
    if kind is None or not _REFERENCE.match(ref):
        raise MalformedPassCode()
    return PassClaims(
        kind=kind,
        key_id=key_id,
        reference=ref.decode("ascii"),
        issued_at=datetime.fromtimestamp(issued, UTC),
        expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
    )


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("pass times must be aware UTC datetimes")
    value = int(moment.timestamp())
    if not 0 < value < 2**32:
        raise ValueError("pass times must fall between 1970 and 2106")
    return value
