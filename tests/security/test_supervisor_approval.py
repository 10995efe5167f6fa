"""Supervisor approval as a cashier at a till would attack it, over real HTTP: trying PINs
against one supervisor id after another, signing in again or moving to the next till for
a fresh budget, switching to the console, sending the guesses all at once. The budget is
per device and per cashier, shared by the till API and the console; the agent's clock is
moved on instead of sleeping out the window."""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
import requests

from edge_agent.staff import add_staff
from pos_bridge.throttle import APPROVAL_ATTEMPTS_PER_MINUTE
from tests.http_server import serving
from tests.test_returns import body, returnable_order
from tests.till_fixtures import TILL_NOW, Till, make_till

LIMIT = APPROVAL_ATTEMPTS_PER_MINUTE
THIS_TILL = "127.0.0.1"
NEXT_TILL = "127.0.0.2"  # loopback too: another device's address, as the server sees it
WRONG_PIN = "8642"
# Each id gets at most two wrong PINs: no lock-out, so the throttle alone is at work.
SUPERVISORS = ["luis", "sofia", "marta"]


@dataclass
class Shop:
    till: Till
    url: str
    now: list[datetime]
    refund: dict  # a return over the cashier's limit: it needs a supervisor

    def later(self, seconds: int) -> None:
        self.now[0] = TILL_NOW + timedelta(seconds=seconds)

    def sign_in(self, staff_id: str, pin: str, till_id: str, source: str) -> str:
        who = {"staff_id": staff_id, "pin": pin, "till_id": till_id}
        status, _, answer = self.post("/api/v1/auth/sign-in", None, source, who)
        assert status == 200, answer
        return answer["token"]

    def approve(
        self, token: str, supervisor: str, pin: str = WRONG_PIN, source: str = THIS_TILL
    ) -> tuple[int, http.client.HTTPMessage, dict]:
        approval = {"staff_id": supervisor, "pin": pin}
        return self.post("/api/v1/returns", token, source, {**self.refund, "approval": approval})

    def post(
        self, path: str, token: str | None, source: str, payload: dict
    ) -> tuple[int, http.client.HTTPMessage, dict]:
        where = urlsplit(self.url)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30,
                                          source_address=(source, 0))  # fmt: skip
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request("POST", path, json.dumps(payload), headers)
            response = conn.getresponse()
            return response.status, response.headers, json.loads(response.read())
        finally:
            conn.close()

    def audit(self, action: str) -> list[tuple]:
        return self.till.ctx.store.db.execute(
            "SELECT actor, till_id, subject, detail FROM audit_log WHERE action = ? ORDER BY id",
            [action],
        ).fetchall()

    def returns(self) -> int:
        return self.till.one("SELECT COUNT(*) FROM returns")[0]


@pytest.fixture
def shop(seeded) -> Iterator[Shop]:
    till = make_till(seeded)
    add_staff(till.ctx, "sofia", "Sofia", "supervisor", "2468")
    add_staff(till.ctx, "marta", "Marta", "supervisor", "1357")
    add_staff(till.ctx, "bea", "Bea", "cashier", "4321")
    number, line_no, price, quantity = returnable_order(till, max_total=10**9, min_total=1)
    limits = till.ctx.config.returns.model_copy(
        update={"cashier_limit_minor": price * quantity - 1, "offline_refund_limit_minor": 10**9}
    )
    now = [TILL_NOW]
    till.app.extensions["edge_agent"] = replace(
        till.ctx, config=till.ctx.config.model_copy(update={"returns": limits}),
        clock=lambda: now[0],
    )  # fmt: skip
    try:
        with serving(till.app, threads=8, max_requests_per_client=16) as url:
            yield Shop(till, url, now, body(number, line_no, quantity))
    finally:
        till.close()


def _guess_across_supervisors(shop: Shop, token: str, attempts: int = LIMIT) -> list[str]:
    tried = [SUPERVISORS[i % len(SUPERVISORS)] for i in range(attempts)]
    for supervisor in tried:
        status, _, answer = shop.approve(token, supervisor)
        assert status == 401, answer
    return tried


def test_guessing_across_supervisors_is_refused_until_the_window_passes(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    _guess_across_supervisors(shop, ana)
    status, headers, answer = shop.approve(ana, "luis", "9876")  # the right PIN, too late
    assert (status, answer["error"]["code"]) == (429, "too_many_attempts")
    assert headers["Retry-After"] == "60"
    assert shop.returns() == 0
    # Refused before the PIN was looked at: it cost luis no attempt.
    assert shop.till.one("SELECT failed_attempts FROM staff WHERE id = 'luis'") == (2,)
    shop.later(59)
    status, headers, _ = shop.approve(ana, "luis", "9876")
    assert (status, headers["Retry-After"]) == (429, "1")
    shop.later(60)
    status, _, answer = shop.approve(ana, "luis", "9876")
    assert status == 201, answer
    assert answer["approved_by"] == "luis"


def test_wrong_approval_pins_are_audited_under_the_cashier_and_their_till(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    tried = _guess_across_supervisors(shop, ana, attempts=3)
    shop.approve(ana, "nobody-here")
    rows = shop.audit("staff.approval_failed")
    assert [(actor, till_id) for actor, till_id, _, _ in rows] == [("ana", "lane-1")] * 4
    assert [subject for _, _, subject, _ in rows] == [*tried, "nobody-here"]
    assert [json.loads(detail)["outcome"] for *_, detail in rows] == ["wrong_pin"] * 3 + ["unknown"]
    assert json.loads(rows[0][3])["client"] == THIS_TILL
    assert shop.audit("staff.sign_in_failed") == []  # nobody tried to sign in
    everything = shop.till.ctx.store.db.execute("SELECT * FROM audit_log").fetchall()
    assert WRONG_PIN not in str(everything)


def test_another_till_is_not_affected(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    bea = shop.sign_in("bea", "4321", "lane-2", NEXT_TILL)
    _guess_across_supervisors(shop, ana)
    assert shop.approve(ana, "luis", "9876")[0] == 429
    status, _, answer = shop.approve(bea, "luis", "9876", source=NEXT_TILL)
    assert status == 201, answer
    assert answer["approved_by"] == "luis"


def test_signing_in_again_or_moving_to_another_till_keeps_the_budget_spent(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    _guess_across_supervisors(shop, ana)
    # A fresh session at the next till: still ana.
    ana_again = shop.sign_in("ana", "1234", "lane-2", NEXT_TILL)
    assert shop.approve(ana_again, "luis", "9876", source=NEXT_TILL)[0] == 429
    # Another cashier's session on ana's device: still that device.
    bea_here = shop.sign_in("bea", "4321", "lane-1", THIS_TILL)
    assert shop.approve(bea_here, "luis", "9876")[0] == 429
    assert shop.returns() == 0


def test_the_right_pin_within_the_limit_approves(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    _guess_across_supervisors(shop, ana, attempts=LIMIT - 1)
    status, _, answer = shop.approve(ana, "luis", "9876")
    assert status == 201, answer
    assert answer["approved_by"] == "luis"
    # Every attempt counts, the right one too: the budget is now spent.
    assert shop.approve(ana, "sofia")[0] == 429


def test_the_console_shares_the_budget_with_the_till_api(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    api_tries = _guess_across_supervisors(shop, ana, attempts=LIMIT - 2)
    with requests.Session() as browser:
        _console_sign_in(shop.url, browser)
        form = _console_return_form(shop.refund)
        answers = [_console_return(shop.url, browser, {**form, "supervisor_id": s,
                                                      "supervisor_pin": WRONG_PIN})
                   for s in ["sofia", "marta", "luis"]]  # fmt: skip
        assert [a.status_code for a in answers] == [401, 401, 429]
        assert answers[2].headers["Retry-After"] == "60"
        assert 'data-code="too_many_attempts"' in answers[2].text
        assert "espere un minuto" in answers[2].text  # the console speaks the store's language
        right = _console_return(shop.url, browser, {**form, "supervisor_id": "luis",
                                                    "supervisor_pin": "9876"})  # fmt: skip
        assert right.status_code == 429
    assert shop.approve(ana, "luis", "9876")[0] == 429
    rows = shop.audit("staff.approval_failed")
    assert [subject for _, _, subject, _ in rows] == [*api_tries, "sofia", "marta"]
    device = shop.till.ctx.config.device.id
    assert [till_id for _, till_id, _, _ in rows[-2:]] == [device, device]
    shop.later(60)
    with requests.Session() as browser:
        _console_sign_in(shop.url, browser)
        right = _console_return(shop.url, browser, {**form, "supervisor_id": "luis",
                                                    "supervisor_pin": "9876"})  # fmt: skip
        assert right.status_code == 201, right.text
    assert shop.till.one("SELECT approved_by FROM returns") == ("luis",)


def test_guesses_sent_at_the_same_instant_pass_the_limit_once(shop):
    ana = shop.sign_in("ana", "1234", "lane-1", THIS_TILL)
    ids = [f"guess-{i}" for i in range(3 * LIMIT)]  # unknown ids: refused, never locked
    barrier = threading.Barrier(len(ids))
    statuses: list[int] = []

    def guess(supervisor: str) -> None:
        barrier.wait()
        statuses.append(shop.approve(ana, supervisor)[0])

    threads = [threading.Thread(target=guess, args=(s,)) for s in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [401] * LIMIT + [429] * (len(ids) - LIMIT)
    assert len(shop.audit("staff.approval_failed")) == LIMIT


def test_the_document_gives_429_and_retry_after_for_returns(shop):
    with requests.get(f"{shop.url}/api/v1/openapi.json", timeout=10) as answer:
        responses = answer.json()["paths"]["/api/v1/returns"]["post"]["responses"]
    assert responses["429"]["headers"]["Retry-After"]["required"] is True


def _console_sign_in(url: str, browser: requests.Session) -> None:
    token = _form_token(browser.get(f"{url}/console/sign-in", timeout=10).text)
    signed = browser.post(f"{url}/console/sign-in", timeout=10, allow_redirects=False,
                          data={"staff_id": "ana", "pin": "1234", "csrf_token": token})  # fmt: skip
    assert signed.status_code == 302, signed.text


def _console_return(url: str, browser: requests.Session, form: dict) -> requests.Response:
    token = _form_token(browser.get(f"{url}/console/", timeout=10).text)
    return browser.post(f"{url}/console/returns", data={**form, "csrf_token": token}, timeout=10)


def _console_return_form(refund: dict) -> dict:
    line = refund["lines"][0]
    return {"order_number": refund["order_number"], f"qty_{line['line_no']}": line["quantity"]}


def _form_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)
