import json
from datetime import timedelta

import pytest

from edge_agent.passes import (
    PassesNotConfigured,
    PassNotFound,
    identify_by_pass,
)
from edge_agent.revocations import apply_revocation_list
from edge_agent.wallet_setup import load_pass_verifier
from sync.protocol.revocations import RevocationList
from tests.conftest import outbox_types
from tests.wallet.conftest import NOW, centre_pass
from wallet.codes import PassSigner
from wallet.errors import BadPassSignature, RevokedPass, StaleRotatingCode, WrongPassKind
from wallet.rotating import current_otp, pass_totp_secret

CUSTOMER = "C00000003"


def last_event(ctx, event_type):
    row = ctx.store.db.execute(
        "SELECT envelope FROM outbox WHERE type = ? ORDER BY seq DESC LIMIT 1", [event_type]
    ).fetchone()
    return json.loads(row[0])


def scan(ctx, code, **kwargs):
    verifier = load_pass_verifier(ctx.config)
    return identify_by_pass(ctx, verifier, code, channel="scan", source="lane-1", **kwargs)


def test_scanned_pass_identifies_its_customer_and_records_method_pass(wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, CUSTOMER)
    profile = scan(wallet_agent, issued.code)
    assert profile.customer_id == CUSTOMER
    event = last_event(wallet_agent, "customer.identified")
    assert event["data"]["method"] == "pass"
    assert event["data"]["pass_serial"] == issued.serial
    assert event["subject"] == CUSTOMER


def test_forged_pass_is_refused_and_reported_without_identifying(wallet_agent, signing_key):
    forged = PassSigner(1, signing_key).sign("loyalty", "LFORGEDSERIAL", NOW)  # not our key
    with pytest.raises(BadPassSignature):
        scan(wallet_agent, forged)
    assert "customer.identified" not in outbox_types(wallet_agent)
    assert last_event(wallet_agent, "pass.refused")["data"]["reason"] == "pass_bad_signature"


def test_genuine_code_unknown_to_the_store_is_not_found(wallet_agent, issuer):
    code = issuer.code("loyalty", "LNOTINTHISSTORE", NOW)
    with pytest.raises(PassNotFound):
        scan(wallet_agent, code)


def test_coupon_code_does_not_identify_a_customer(wallet_agent, issuer):
    with pytest.raises(WrongPassKind):
        scan(wallet_agent, issuer.code("coupon", "CABC", NOW))


def test_revocation_list_from_the_centre_refuses_the_pass(wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, CUSTOMER)
    with wallet_agent.store.transaction() as db:
        assert apply_revocation_list(db, RevocationList(revoked=(issued.serial,)), NOW) == 1
    with pytest.raises(RevokedPass):
        scan(wallet_agent, issued.code)
    status = wallet_agent.store.db.execute(
        "SELECT status FROM passes WHERE serial = ?", [issued.serial]
    ).fetchone()[0]
    assert status == "revoked"


def test_store_without_keys_says_so(agent):
    with pytest.raises(PassesNotConfigured):
        identify_by_pass(agent, None, "EP1:AAAA", channel="scan", source="x")


def google_pass(ctx, issuer):
    return centre_pass(ctx, issuer, CUSTOMER, platform="google")


def test_rotating_code_accepted_within_its_window_refused_when_stale(wallet_agent, issuer):
    secret = b"s" * 32
    issued = google_pass(wallet_agent, issuer)
    otp = current_otp(pass_totp_secret(secret, issued.serial), NOW)
    profile = scan(wallet_agent, f"{issued.code}/{otp}", rotating_secret=secret)
    assert profile.customer_id == CUSTOMER
    old = current_otp(pass_totp_secret(secret, issued.serial), NOW - timedelta(minutes=5))
    with pytest.raises(StaleRotatingCode):
        scan(wallet_agent, f"{issued.code}/{old}", rotating_secret=secret)


def test_static_copy_of_a_rotating_pass_is_refused(wallet_agent, issuer):
    issued = google_pass(wallet_agent, issuer)
    with pytest.raises(StaleRotatingCode, match="screenshot"):
        scan(wallet_agent, issued.code, rotating_secret=b"s" * 32)


def test_a_pass_the_centre_revokes_down_the_feed_is_refused(wallet_agent, issuer):
    from edge_agent.changes import apply_change
    from sync.protocol.changes import Change
    from sync.protocol.wallet_changes import PASS_UPSERTED, PassUpserted

    issued = centre_pass(wallet_agent, issuer, CUSTOMER)
    assert scan(wallet_agent, issued.code).customer_id == CUSTOMER
    revoked = PassUpserted(
        serial=issued.serial, customer_id=CUSTOMER, kind="loyalty", platform="apple",
        status="revoked",
    )  # fmt: skip
    with wallet_agent.store.transaction() as db:
        apply_change(db, Change("c2", PASS_UPSERTED, 2, NOW, revoked), NOW)
    with pytest.raises(RevokedPass):
        scan(wallet_agent, issued.code)
    # A later "active" for the same serial (an old change replayed) does not revive it.
    with wallet_agent.store.transaction() as db:
        apply_change(db, Change("c1", PASS_UPSERTED, 1, NOW, revoked.model_copy(
            update={"status": "active", "on_device": True})), NOW)  # fmt: skip
    with pytest.raises(RevokedPass):
        scan(wallet_agent, issued.code)


def test_a_pass_for_a_customer_not_held_here_is_kept_without_one(wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, "C-NOT-HERE")
    row = wallet_agent.store.db.execute(
        "SELECT customer_id, status FROM passes WHERE serial = ?", [issued.serial]
    ).fetchone()
    assert row == (None, "active")
    with pytest.raises(PassNotFound):
        scan(wallet_agent, issued.code)
