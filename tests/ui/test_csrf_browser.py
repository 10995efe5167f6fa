"""Forged forms in a real browser: a page served on another port of the same host
(same site, so SameSite=Lax lets the cookie through) posts into the signed-in console
and into the kiosk. The CSRF token and the Origin check refuse them; nothing changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from playwright.sync_api import Page, expect, sync_playwright

from tests.http_server import serving
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS
from tests.ui.conftest import pickup_shopper

FORGED = """<!doctype html><html><body>
<form id="f" method="post" action="{target}">{fields}</form>
<script>document.getElementById("f").submit();</script></body></html>"""


def attacker_site(pages: dict[str, str]) -> Flask:
    site = Flask("attacker")

    @site.get("/<name>")
    def page(name: str) -> str:
        return pages[name]

    return site


def forged(target: str, **fields: str) -> str:
    inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
    return FORGED.format(target=target, fields=inputs)


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context()
        context.set_default_timeout(15_000)
        yield context.new_page()
        browser.close()


def test_forms_from_another_port_change_nothing(till, page):
    collector, ready = pickup_shopper(till)
    with serving(till.app) as agent_url:
        pages = {
            "list": forged(f"{agent_url}/console/lists", name="forged list",
                           customer_id=collector.customer_id),
            "collect": forged(f"{agent_url}/console/pickups", order_number=ready,
                              customer_id=collector.customer_id),
            "sign-in": forged(f"{agent_url}/console/sign-in", staff_id="luis", pin="0000"),
        }  # fmt: skip
        with serving(attacker_site(pages)) as attacker_url:
            page.goto(f"{agent_url}/console/")
            page.fill("#staff_id", "ana")
            page.fill("#pin", "1234")
            page.click("#sign-in-button")
            expect(page.locator("#who")).to_contain_text("ana")
            for name in ("list", "collect"):
                with page.expect_response(lambda r: r.request.method == "POST") as answer:
                    page.goto(f"{attacker_url}/{name}")
                assert answer.value.status == 403, name
            for _ in range(6):  # a lockout's worth of forged sign-ins
                with page.expect_response(lambda r: r.request.method == "POST") as answer:
                    page.goto(f"{attacker_url}/sign-in")
                assert answer.value.status == 403
            # The staff member's own session still works, and their own forms still do.
            page.goto(f"{agent_url}/console/")
            expect(page.locator("#who")).to_contain_text("ana")
    assert till.one("SELECT COUNT(*) FROM shopping_lists WHERE name = 'forged list'") == (0,)
    assert till.one("SELECT status FROM orders WHERE number = ?", [ready]) == ("ready_for_pickup",)
    assert till.one("SELECT failed_attempts, locked_until FROM staff WHERE id = 'luis'") == (
        0,
        None,
    )
