import json
from datetime import timedelta

import pytest

from edge_agent.passes import (
    PassesNotConfigured,
    PassNotFound,
    identify_by_pass,
    issue_loyalty_pass,
    reissue_loyalty_passes,
)
from edge_agent.revocations import apply_revocation_list
from edge_agent.wallet_setup import load_pass_verifier
from sync.protocol.revocations import RevocationList
from tests.conftest import outbox_types
from tests.wallet.conftest import NOW
from wallet.apple import registry
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
    issued = issue_loyalty_pass(wallet_agent, issuer, CUSTOMER, apple=True, google=False)
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
    issued = issue_loyalty_pass(wallet_agent, issuer, CUSTOMER, apple=True, google=False)
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
    issued = issue_loyalty_pass(ctx, issuer, CUSTOMER, apple=True, google=False)
    with ctx.store.transaction() as db:  # stand in for a Google pass: same code, platform google
        db.execute("UPDATE passes SET platform = 'google' WHERE serial = ?", [issued.serial])
    return issued


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


def test_points_change_reissues_the_apple_pass_and_queues_a_push(wallet_agent, issuer):
    issued = issue_loyalty_pass(wallet_agent, issuer, CUSTOMER, apple=True, google=False)
    registry.register_device(
        wallet_agent.store,
        device_id="dev1",
        push_token="tok1",
        pass_type_id=issuer.apple.settings.pass_type_id,
        serial=issued.serial,
        at=NOW,
    )
    pass_type = issuer.apple.settings.pass_type_id
    before = registry.latest_pass(wallet_agent.store, pass_type, issued.serial)
    with wallet_agent.store.transaction() as db:
        db.execute("UPDATE loyalty_accounts SET points = 99999 WHERE customer_id = ?", [CUSTOMER])
    assert reissue_loyalty_passes(wallet_agent, issuer, CUSTOMER) == [issued.serial]
    after = registry.latest_pass(wallet_agent.store, pass_type, issued.serial)
    assert after.update_tag > before.update_tag
    assert b"99999" in _pass_json(after.pkpass)
    assert [p.push_token for p in registry.pending_pushes(wallet_agent.store)] == ["tok1"]
    assert last_event(wallet_agent, "pass.reissued")["data"]["pass_serial"] == issued.serial


def _pass_json(pkpass: bytes) -> bytes:
    import io
    import zipfile

    return zipfile.ZipFile(io.BytesIO(pkpass)).read("pass.json")
