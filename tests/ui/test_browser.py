"""The kiosk and the staff console in real headless Chromium against a real server.
Screenshots are saved under test-artifacts/ui/."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright

from edge_agent.config import KioskSettings, WalletSettings
from edge_agent.context import open_agent
from edge_agent.domain import Money
from edge_agent.scans import ScanDispatcher
from edge_agent.seed import seed_store
from edge_agent.staff import create_api_key
from hardware.money import format_money
from pos_bridge.app import create_app
from tests.conftest import SEED_NOW, make_config
from tests.till_fixtures import Till, make_till
from tests.ui.browser import CHROMIUM, CHROMIUM_ARGS, screenshot_path, serve
from tests.ui.conftest import (
    PASS_KEY,
    pickup_shopper,
    product_in_stock,
    returning_shopper,
    wallet_pass,
)
from tests.wallet.conftest import centre_pass
from wallet.codes import PassSigner
from wallet.issuer import PassIssuer
from wallet.keyring import PassKeyRing
from wallet.keys import load_signing_key, write_signing_key

IDLE_SECONDS = 4  # the idle server's timeout: short, but a loaded machine still types in time


@pytest.fixture(scope="module")
def till(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Till]:
    ctx = open_agent(make_config(tmp_path_factory.mktemp("ui-browser")))
    seed_store(ctx, customers=60, orders=600, seed=7, now=SEED_NOW)
    t = make_till(replace(ctx, pass_keys=PassKeyRing({1: PASS_KEY.public_key()})))
    yield t
    t.close()
    ctx.store.close()


@pytest.fixture(scope="module")
def base_url(till: Till) -> Iterator[str]:
    with serve(till.app) as url:
        yield url


@pytest.fixture(scope="module")
def idle_url(till: Till) -> Iterator[str]:
    """A second app over the same store whose kiosk gives up after IDLE_SECONDS."""
    config = till.ctx.config.model_copy(
        update={"kiosk": KioskSettings(idle_timeout_seconds=IDLE_SECONDS)}
    )
    ctx = replace(till.ctx, config=config)
    dispatcher = ScanDispatcher(ctx)
    dispatcher.start()
    try:
        with serve(create_app(ctx, dispatcher)) as url:
            yield url
    finally:
        dispatcher.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1080, "height": 1350})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def scan_into(page: Page, code: str) -> None:
    """What a keyboard-wedge scanner does: type into the focused field, then Enter."""
    field = page.locator("#code")
    expect(field).to_be_focused()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def staff_token(base_url: str) -> str:
    body = {"staff_id": "ana", "pin": "1234", "till_id": "lane-2"}
    response = requests.post(f"{base_url}/api/v1/auth/sign-in", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["token"]


def test_kiosk_scan_welcome_return_slip_then_the_till_loads_it(till, base_url, page):
    shopper, number, _ = returning_shopper(till)
    page.goto(f"{base_url}/kiosk/")
    expect(page.locator("h1")).to_have_text("Bienvenido")
    page.screenshot(path=screenshot_path("kiosk-start-es"))
    scan_into(page, wallet_pass(till, shopper))
    expect(page.locator("#welcome h1")).to_have_text(f"¡Hola, {shopper.first_name}!")
    assert shopper.last_name not in page.content()
    page.screenshot(path=screenshot_path("kiosk-welcome-es"))
    page.click("#start-return")
    page.click(f'[data-order="{number}"]')
    page.select_option("#qty_1", "1")
    page.screenshot(path=screenshot_path("kiosk-return-lines-es"))
    page.click("#make-slip")
    expect(page.locator("#slip h1")).to_have_text("Su justificante de devolución")
    shot = screenshot_path("kiosk-slip-es")
    page.screenshot(path=shot, full_page=True)
    # Decode the QR from what the screen shows, with a decoder independent of segno.
    qr_png = page.locator("#qr svg").screenshot()
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png)))]
    slip_code = page.locator("#slip").get_attribute("data-slip-code")
    assert decoded == [slip_code]
    assert re.fullmatch(r"RR:[A-Za-z0-9_-]{16,}", slip_code)
    # The till scans the slip and loads the quote.
    headers = {"Authorization": f"Bearer {staff_token(base_url)}"}
    scanned = requests.post(f"{base_url}/api/v1/scans", headers=headers, timeout=10,
                            json={"data": decoded[0], "source": "lane-2"})  # fmt: skip
    assert scanned.status_code == 200, scanned.text
    request_id = scanned.json()["return_request_id"]
    quote = requests.get(f"{base_url}/api/v1/return-requests/{request_id}", headers=headers,
                         timeout=10)  # fmt: skip
    assert quote.status_code == 200, quote.text
    assert quote.json()["order_number"] == number
    assert quote.json()["acceptable"] is True
    assert [ln["requested"] for ln in quote.json()["lines"]] == [1]


def test_kiosk_returns_to_start_when_left_idle(till, idle_url, page):
    shopper, _, _ = returning_shopper(till)
    page.goto(f"{idle_url}/kiosk/")
    # Check the welcome from its response: on a busy machine the page may already have
    # timed out by the time an assertion on the screen runs.
    with page.expect_response(lambda r: r.url.endswith("/kiosk/welcome")) as welcome:
        scan_into(page, wallet_pass(till, shopper))
    assert welcome.value.status == 200
    assert f"{shopper.first_name}!" in welcome.value.text()
    # Nobody touches the screen: the page goes back to the start on its own.
    page.wait_for_url(f"{idle_url}/kiosk/", timeout=(IDLE_SECONDS + 10) * 1000)
    expect(page.locator("#start")).to_be_visible()
    page.screenshot(path=screenshot_path("kiosk-after-idle"))
    # And the server forgot the customer: the welcome page is not reachable any more.
    page.goto(f"{idle_url}/kiosk/welcome")
    expect(page.locator("#start")).to_be_visible()


def test_kiosk_in_spanish_and_english(till, base_url, page):
    gtin, name, price_minor, _ = product_in_stock(till)
    page.goto(f"{base_url}/kiosk/")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    scan_into(page, gtin)
    expect(page.locator("#product h1")).to_have_text(name)
    price = Money(price_minor, "EUR")
    expect(page.locator("#price")).to_have_text(format_money(price, "es_ES"))
    expect(page.locator("#add-to-list")).to_have_text("Añadir a mi lista")
    page.click('[data-lang="en"]')
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#add-to-list")).to_have_text("Add to my list")
    expect(page.locator("#price")).to_have_text(format_money(price, "en_ES"))
    page.screenshot(path=screenshot_path("kiosk-product-en"))


def test_kiosk_targets_are_touch_sized(till, base_url, page):
    shopper, _, _ = returning_shopper(till)
    page.goto(f"{base_url}/kiosk/")
    scan_into(page, wallet_pass(till, shopper))
    expect(page.locator("#welcome")).to_be_visible()
    sizes = page.eval_on_selector_all(
        "a, button, input, select",
        "els => els.filter(e => e.offsetParent !== null && e.type !== 'hidden')"
        ".map(e => [e.outerHTML.slice(0, 60), e.getBoundingClientRect().width,"
        " e.getBoundingClientRect().height])",
    )
    assert sizes
    small = [s for s in sizes if s[1] < 48 or s[2] < 48]
    assert small == []


# WCAG 2.x contrast of every piece of visible text against the background it sits on.
CONTRAST_JS = """
() => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map(v => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c;
    }
    return [255, 255, 255];
  };
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.offsetParent === null) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    found.push([el.tagName + ":" + el.textContent.trim().slice(0, 30), ratio]);
  }
  return found;
}
"""


def test_screens_text_has_readable_contrast(till, base_url, page):
    shopper, number, _ = returning_shopper(till)
    page.goto(f"{base_url}/kiosk/")
    pages = {"kiosk start": page.evaluate(CONTRAST_JS)}
    scan_into(page, wallet_pass(till, shopper))
    expect(page.locator("#welcome")).to_be_visible()
    pages["kiosk welcome"] = page.evaluate(CONTRAST_JS)
    page.goto(f"{base_url}/kiosk/returns/{number}")
    pages["kiosk return lines"] = page.evaluate(CONTRAST_JS)
    page.goto(f"{base_url}/console/sign-in")
    pages["console sign-in"] = page.evaluate(CONTRAST_JS)
    for name, texts in pages.items():
        assert texts, name
        # 7:1 is WCAG AAA for body text; the kiosk is read standing, often in bright light.
        poor = [(text, round(ratio, 2)) for text, ratio in texts if ratio < 7]
        assert poor == [], name


def test_kiosk_product_to_list_to_staff(till, base_url, page):
    gtin, name, _, _ = product_in_stock(till)
    page.goto(f"{base_url}/kiosk/")
    scan_into(page, gtin)
    page.click("#add-to-list")
    expect(page.locator(f'#list [data-gtin="{gtin}"]')).to_contain_text(name)
    page.screenshot(path=screenshot_path("kiosk-list-es"))
    page.click("#send-list")
    expect(page.locator("#list-sent h1")).to_have_text("Su lista está en camino")
    list_id = page.locator("#list-number").inner_text().strip()
    page.screenshot(path=screenshot_path("kiosk-list-sent-es"))
    envelope = till.one(
        "SELECT envelope FROM outbox WHERE type = 'list.sent_to_staff' AND subject = ?", [list_id]
    )
    assert envelope is not None
    assert json.loads(envelope[0])["data"]["item_count"] == 1


def test_console_sign_in_identify_return_and_pickup(till, base_url, page):
    shopper, number, quantity = returning_shopper(till)
    collector, ready = pickup_shopper(till)
    page.goto(f"{base_url}/console/")
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#staff_id", "ana")
    page.fill("#pin", "1234")
    page.click("#sign-in-button")
    expect(page.locator("#who")).to_contain_text("ana")
    page.screenshot(path=screenshot_path("console-home-es"))
    # Identify by loyalty card and see the profile.
    page.fill("#query", shopper.loyalty_id)
    page.click("#identify")
    expect(page.locator("#profile h1")).to_have_text(f"{shopper.first_name} {shopper.last_name}")
    page.screenshot(path=screenshot_path("console-profile-es"), full_page=True)
    # Return: order, quote, confirm.
    page.goto(f"{base_url}/console/orders?number={number}")
    page.fill("#qty_1", str(quantity))
    page.click("#quote")
    expect(page.locator("#return-quote")).to_be_visible()
    page.screenshot(path=screenshot_path("console-return-quote-es"))
    page.click("#confirm-return")
    expect(page.locator("#return-done h1")).to_have_text("Devolución registrada")
    assert till.one(
        "SELECT COUNT(*) FROM returns r JOIN orders o ON o.id = r.order_id WHERE o.number = ?",
        [number],
    ) == (1,)
    # Pickup: identify the collector, hand over from the profile.
    page.click("text=Inicio")
    page.fill("#query", collector.loyalty_id)
    page.click("#identify")
    page.click(f'[data-pickup="{ready}"]')
    expect(page.locator("#pickup")).to_be_visible()
    page.screenshot(path=screenshot_path("console-pickup-es"), full_page=True)
    page.click("#hand-over")
    expect(page.locator("#pickup-done")).to_be_visible()
    assert till.one("SELECT status FROM orders WHERE number = ?", [ready]) == ("collected",)


@pytest.fixture(scope="module")
def pass_till(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Till, PassIssuer]]:
    """A till whose store checks wallet passes, and the centre's issuer of them."""
    directory = tmp_path_factory.mktemp("ui-passes")
    keys = directory / "keys"
    write_signing_key(keys, 1)
    config = make_config(directory / "data", wallet=WalletSettings(keys_dir=keys))
    ctx = open_agent(config)
    seed_store(ctx, customers=20, orders=100, seed=7, now=SEED_NOW)
    issuer = PassIssuer(PassSigner(1, load_signing_key(keys, 1)))
    till = make_till(ctx)
    yield till, issuer
    till.close()
    ctx.store.close()


def test_console_opens_the_profile_of_a_pass_scanned_at_its_till(pass_till, page):
    """Nobody types: the customer shows a wallet pass to the till's scanner and the staff
    console on that till follows its event stream to the customer's profile."""
    till, issuer = pass_till
    # Issued at the centre; its serial -> customer record reached this store's feed.
    issued = centre_pass(till.ctx, issuer, "C00000004", platform="google")
    scanner_id = till.ctx.config.scanners[0].id
    with serve(till.app) as url:
        page.goto(f"{url}/console/")
        page.fill("#staff_id", "ana")
        page.fill("#pin", "1234")
        page.click("#sign-in-button")
        expect(page.locator("#who")).to_contain_text("ana")
        # Wait until the page holds its event stream before the scan happens.
        deadline = time.monotonic() + 10
        while not till.app.extensions["till_events"].has_subscribers(scanner_id):
            assert time.monotonic() < deadline, "the console never opened its event stream"
            time.sleep(0.05)
        # The till's scanner reads the pass (as POST /api/v1/scans from that scanner).
        scanned = requests.post(
            f"{url}/api/v1/scans",
            json={"data": issued.code, "source": scanner_id},
            headers={"Authorization": f"Bearer {create_api_key(till.ctx, 'pos', 'cashier')}"},
            timeout=10,
        )
        assert scanned.status_code == 200, scanned.text
        assert scanned.json()["kind"] == "pass_code"
        expect(page).to_have_url(re.compile(r"/console/customers/C00000004$"))
        expect(page.locator("#profile")).to_be_visible()
        page.screenshot(path=screenshot_path("console-followed-pass-scan-es"))
        till.app.extensions["till_events"].close()  # as the daemon does before the web stops
