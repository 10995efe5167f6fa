"""A wallet pass read by a scanner goes through the same dispatcher as any scan."""

from datetime import UTC, datetime

from edge_agent.scans import ScanDispatcher
from hardware.scan import Scan
from tests.conftest import outbox_types
from tests.wallet.conftest import centre_pass


def scan(data: str) -> Scan:
    return Scan(data, "]Q1", "lane-1", datetime.now(UTC))


def test_scanned_pass_identifies_its_customer(wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, "C00000004")
    outcome = ScanDispatcher(wallet_agent).handle(scan(issued.code))
    assert (outcome.status, outcome.kind) == ("identified", "pass_code")
    assert outcome.customer is not None and outcome.customer.customer_id == "C00000004"
    assert outbox_types(wallet_agent)[-2:] == ["customer.identified", "scan.recorded"]


def test_forged_pass_is_refused_with_its_reason_and_reported(wallet_agent, issuer):
    issued = centre_pass(wallet_agent, issuer, "C00000004")
    forged = issued.code[:-3] + ("AAA" if not issued.code.endswith("AAA") else "BBB")
    outcome = ScanDispatcher(wallet_agent).handle(scan(forged))
    assert (outcome.status, outcome.kind) == ("refused", "pass_code")
    assert outcome.message
    types = outbox_types(wallet_agent)
    assert "customer.identified" not in types
    assert types[-2:] == ["pass.refused", "scan.recorded"]


def test_plain_loyalty_number_still_identifies_as_a_look_up(wallet_agent):
    loyalty = wallet_agent.store.db.execute(
        "SELECT loyalty_id FROM customers WHERE id = 'C00000004'"
    ).fetchone()[0]
    outcome = ScanDispatcher(wallet_agent).handle(scan(loyalty))
    assert (outcome.status, outcome.kind) == ("identified", "loyalty_id")


def test_a_revocation_from_the_centre_stops_the_pass_at_the_scanner(wallet_agent, issuer):
    from edge_agent.revocations import revoke_pass

    issued = centre_pass(wallet_agent, issuer, "C00000005")
    with wallet_agent.store.transaction() as db:
        revoke_pass(db, issued.serial, datetime.now(UTC))
    outcome = ScanDispatcher(wallet_agent).handle(scan(issued.code))
    assert (outcome.status, outcome.kind) == ("refused", "pass_code")
    assert "revoked" in outcome.message
    assert "customer.identified" not in outbox_types(wallet_agent)
