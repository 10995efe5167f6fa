import base64
from datetime import timedelta

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.wallet.conftest import NOW
from wallet.codes import PassSigner, PassVerifier, looks_like_pass_code
from wallet.errors import (
    AlteredPassCode,
    BadPassSignature,
    ExpiredPass,
    MalformedPassCode,
    PassRefused,
    RevokedPass,
    UnknownPassKey,
    WrongPassKind,
)

SERIAL = "LA7K2M9QX4TP2"


@pytest.fixture(scope="module")
def shared_verifier(signing_key):
    """One verifier for all hypothesis examples (refused codes never enter its cache)."""
    return PassVerifier({1: signing_key.public_key()})


def test_genuine_code_verifies_with_public_key_only(signer, verifier):
    code = signer.sign("loyalty", SERIAL, NOW)
    claims = verifier.verify(code, now=NOW)
    assert (claims.kind, claims.reference, claims.key_id) == ("loyalty", SERIAL, 1)
    assert claims.issued_at == NOW
    assert claims.expires_at is None


def test_code_is_qr_alphanumeric_and_fits_version_6_at_level_m(signer):
    code = signer.sign("loyalty", SERIAL, NOW)
    assert code.startswith("EP1:")
    assert set(code[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(code) == 148  # the figure wallet/codes.py states for a 13-character serial
    qr = segno.make(code, error="M", boost_error=False)
    assert qr.mode == "alphanumeric"
    assert qr.version <= 6


def test_longest_pickup_code_with_expiry_still_fits_a_qr_at_level_m(signer):
    code = signer.sign("pickup", "W" * 40, NOW, NOW + timedelta(days=14))
    assert len(code) == 192
    assert segno.make(code, error="M", boost_error=False).version <= 8


def test_signature_from_another_key_with_our_key_id_is_a_bad_signature(verifier):
    forger = PassSigner(1, Ed25519PrivateKey.generate())
    with pytest.raises(BadPassSignature) as refused:
        verifier.verify(forger.sign("loyalty", SERIAL, NOW), now=NOW)
    assert refused.value.code == "pass_bad_signature"


def test_unknown_key_id_is_refused_by_name(verifier):
    other = PassSigner(7, Ed25519PrivateKey.generate())
    with pytest.raises(UnknownPassKey) as refused:
        verifier.verify(other.sign("loyalty", SERIAL, NOW), now=NOW)
    assert refused.value.code == "pass_unknown_key"
    assert refused.value.key_id == 7


def test_rotated_keys_both_verify(signing_key):
    new_key = Ed25519PrivateKey.generate()
    verifier = PassVerifier({1: signing_key.public_key(), 2: new_key.public_key()})
    assert verifier.verify(PassSigner(2, new_key).sign("coupon", "C1", NOW), now=NOW).key_id == 2
    assert verifier.verify(PassSigner(1, signing_key).sign("coupon", "C1", NOW), now=NOW)


def test_one_changed_character_is_refused(signer, verifier):
    code = signer.sign("loyalty", SERIAL, NOW)
    for position in (5, 20, 60, len(code) - 3):
        swapped = "B" if code[position] != "B" else "C"
        altered = code[:position] + swapped + code[position + 1 :]
        with pytest.raises(PassRefused) as refused:
            verifier.verify(altered, now=NOW)
        assert refused.value.code in {"pass_altered", "pass_malformed"}


def test_payload_changed_and_checksum_redone_is_a_bad_signature(signer, verifier):
    """A forger who edits the serial and fixes the checksum still lacks the key."""
    import binascii

    code = signer.sign("loyalty", SERIAL, NOW)
    raw = bytearray(base64.b32decode(code[4:] + "=" * (-len(code[4:]) % 8)))
    raw[11] = ord("X")  # first character of the serial
    raw[-2:] = binascii.crc_hqx(bytes(raw[:-2]), 0).to_bytes(2, "big")
    forged = "EP1:" + base64.b32encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(BadPassSignature):
        verifier.verify(forged, now=NOW)


def test_damaged_code_is_altered(signer, verifier):
    code = signer.sign("loyalty", SERIAL, NOW)
    raw = bytearray(base64.b32decode(code[4:] + "=" * (-len(code[4:]) % 8)))
    raw[30] ^= 0x01  # inside the signature; the checksum no longer matches
    damaged = "EP1:" + base64.b32encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(AlteredPassCode) as refused:
        verifier.verify(damaged, now=NOW)
    assert refused.value.code == "pass_altered"


@pytest.mark.parametrize("cut", [1, 8, 40, 100])
def test_truncated_code_is_malformed(signer, verifier, cut):
    code = signer.sign("loyalty", SERIAL, NOW)
    with pytest.raises(MalformedPassCode):
        verifier.verify(code[:-cut], now=NOW)


def test_expired_code_is_refused_after_its_expiry_only(signer, verifier):
    code = signer.sign("coupon", "C1", NOW, NOW + timedelta(days=1))
    assert verifier.verify(code, now=NOW + timedelta(hours=23)).kind == "coupon"
    with pytest.raises(ExpiredPass) as refused:
        verifier.verify(code, now=NOW + timedelta(days=1))
    assert refused.value.code == "pass_expired"


def test_revoked_serial_is_refused(signer, verifier):
    code = signer.sign("loyalty", SERIAL, NOW)
    with pytest.raises(RevokedPass) as refused:
        verifier.verify(code, now=NOW, revoked={SERIAL})
    assert refused.value.code == "pass_revoked"


def test_wrong_kind_for_the_flow_is_refused(signer, verifier):
    code = signer.sign("coupon", "C1", NOW)
    with pytest.raises(WrongPassKind) as refused:
        verifier.verify(code, now=NOW, kinds=("loyalty",))
    assert refused.value.code == "pass_wrong_kind"
    assert "coupon" in refused.value.message


def test_unknown_version_is_malformed_with_a_hint(signer, verifier):
    code = signer.sign("loyalty", SERIAL, NOW).replace("EP1:", "EP9:", 1)
    with pytest.raises(MalformedPassCode, match="version 9"):
        verifier.verify(code, now=NOW)


def test_plain_loyalty_number_is_not_a_pass_code(verifier):
    assert not looks_like_pass_code("2900000013087")
    with pytest.raises(MalformedPassCode):
        verifier.verify("2900000013087", now=NOW)


def test_every_refusal_has_its_own_code():
    classes = [
        MalformedPassCode,
        AlteredPassCode,
        BadPassSignature,
        UnknownPassKey,
        ExpiredPass,
        RevokedPass,
        WrongPassKind,
    ]
    assert len({c.code for c in classes}) == len(classes)


def test_cached_code_still_checks_expiry_and_revocation(signer, verifier):
    code = signer.sign("coupon", "C2", NOW, NOW + timedelta(hours=1))
    verifier.verify(code, now=NOW)
    with pytest.raises(ExpiredPass):
        verifier.verify(code, now=NOW + timedelta(hours=2))
    with pytest.raises(RevokedPass):
        verifier.verify(code, now=NOW, revoked={"C2"})


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_never_crashes(shared_verifier, text):
    with pytest.raises(PassRefused):
        shared_verifier.verify(text, now=NOW)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=1, max_size=200))
def test_arbitrary_base32_after_the_prefix_is_refused(shared_verifier, body):
    with pytest.raises(PassRefused):
        shared_verifier.verify("EP1:" + body, now=NOW)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=4, max_value=148), char=st.sampled_from("AB234Z7Q"))
def test_any_single_character_change_is_refused(signer, shared_verifier, position, char):
    code = signer.sign("loyalty", SERIAL, NOW)
    changed = code[:position] + char + code[position + 1 :]
    if changed == code:
        return
    with pytest.raises(PassRefused):
        shared_verifier.verify(changed, now=NOW)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["loyalty", "coupon", "pickup"]),
    reference=st.from_regex(r"[A-Za-z0-9._-]{1,40}", fullmatch=True),
    issued=st.integers(min_value=1, max_value=2**32 - 10),
    valid_for=st.one_of(st.none(), st.integers(min_value=1, max_value=9)),
)
def test_any_signed_claims_round_trip(signer, shared_verifier, kind, reference, issued, valid_for):
    from datetime import UTC, datetime

    issued_at = datetime.fromtimestamp(issued, UTC)
    expires_at = None if valid_for is None else issued_at + timedelta(seconds=valid_for)
    code = signer.sign(kind, reference, issued_at, expires_at)
    assert looks_like_pass_code(code)
    claims = shared_verifier.verify(code, now=issued_at)
    assert (claims.kind, claims.reference, claims.issued_at, claims.expires_at) == (
        kind,
        reference,
        issued_at,
        expires_at,
    )
