"""The kiosk as a customer directory, tried and refused: typed numbers prove nothing, so
they show nothing, record nothing and answer alike whether anyone owns them; an order
number tells nothing without the owner's pass; scanning is throttled; a copied cookie
dies with "Finish"."""

from __future__ import annotations

import re

from pos_bridge.throttle import KIOSK_SCANS_PER_MINUTE
from tests.conftest import outbox_types
from tests.ui.conftest import returning_shopper, someone_elses_order, wallet_pass


def scan(kiosk, code: str):
    return kiosk.post("/kiosk/scan", data={"code": code})


def shown(response) -> str:
    """The page without what differs per request anyway (the form token)."""
    return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True))


def test_typed_loyalty_numbers_identify_nobody_and_tell_nothing(till, kiosk):
    known = [row[0] for row in till.ctx.store.db.execute(
        "SELECT loyalty_id FROM customers WHERE loyalty_id IS NOT NULL ORDER BY id LIMIT 10"
    )]  # fmt: skip
    unknown = ["2900000000001", "2999999999993", "2912345678904"]
    seen_before = till.ctx.store.db.execute("SELECT id, last_seen_at FROM customers").fetchall()
    answers = {}
    for number in known + unknown:
        response = scan(kiosk, number)
        answers[number] = (response.status_code, shown(response))
    assert len(set(answers.values())) == 1, "a known number answers unlike an unknown one"
    page = answers[known[0]][1]
    assert "escanee el pase" in page
    for number in known:
        first_name = till.one("SELECT first_name FROM customers WHERE loyalty_id = ?",
                              [number])[0]  # fmt: skip
        assert first_name not in page
    assert kiosk.get("/kiosk/welcome").status_code == 302
    assert kiosk.get("/kiosk/returns").status_code == 302
    assert "customer.identified" not in outbox_types(till.ctx)
    # Nobody's retention clock was restarted by a number typed at the kiosk.
    assert till.ctx.store.db.execute("SELECT id, last_seen_at FROM customers").fetchall() == (
        seen_before
    )


def test_an_order_number_tells_nothing_without_its_owners_pass(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    missing = "W999999998"
    without_pass = {scan(kiosk, n).status_code for n in (number, missing)}
    assert without_pass == {200}
    assert shown(scan(kiosk, number)) == shown(scan(kiosk, missing))
    scan(kiosk, wallet_pass(till, shopper))
    other = someone_elses_order(till, shopper.customer_id)
    strangers = [scan(kiosk, n) for n in (other, missing)]
    assert {r.status_code for r in strangers} == {404}
    assert shown(strangers[0]) == shown(strangers[1])
    own = scan(kiosk, number)
    assert own.status_code == 302 and own.location.endswith(f"/kiosk/returns/{number}")


def test_a_pass_opens_the_account_and_records_the_identification(till, kiosk):
    shopper, number, _ = returning_shopper(till)
    assert scan(kiosk, wallet_pass(till, shopper)).status_code == 302
    welcome = kiosk.get("/kiosk/welcome").get_data(as_text=True)
    assert shopper.first_name in welcome and shopper.last_name not in welcome
    assert number in kiosk.get("/kiosk/returns").get_data(as_text=True)
    assert "customer.identified" in outbox_types(till.ctx)


def test_scanning_is_throttled_per_kiosk(till, kiosk):
    codes = [scan(kiosk, f"29000000{i:05d}").status_code for i in range(KIOSK_SCANS_PER_MINUTE)]
    assert 429 not in codes
    throttled = scan(kiosk, "2900000000001")
    assert throttled.status_code == 429
    other_kiosk = till.app.test_client()
    elsewhere = {"REMOTE_ADDR": "192.0.2.40"}
    answer = other_kiosk.post("/kiosk/scan", data={"code": "2900000000001"}, environ_base=elsewhere)
    assert answer.status_code == 200


def test_a_cookie_copied_before_finish_opens_nothing_after_it(till, kiosk):
    shopper, _, _ = returning_shopper(till)
    scan(kiosk, wallet_pass(till, shopper))
    copy = till.app.test_client()
    copy.set_cookie("session", kiosk.get_cookie("session").value)
    assert copy.get("/kiosk/welcome").status_code == 200
    kiosk.get("/kiosk/end")
    assert copy.get("/kiosk/welcome").status_code == 302
    assert copy.get("/kiosk/returns").status_code == 302
