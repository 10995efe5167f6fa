"""Wallet passes from the centre, end to end over a real Mosquitto, the real centre and
loopback HTTP/2 (APNs) and HTTP (Google) stand-ins: issued at the centre, recognised at
a store that is offline and at one that never saw the customer, re-issued when points
and tier change, pushed, fetched by the device and checked with openssl."""

from __future__ import annotations

import io
import json
import subprocess
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from edge_agent.centre import CentreAnswer
from edge_agent.config import WalletSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.domain import Money
from edge_agent.loyalty import award_points, redeem_coupon
from edge_agent.scans import ScanDispatcher
from edge_agent.staff import Actor
from hardware.scan import Scan
from pos_bridge import wiring
from pos_bridge.conflicts_api import conflict_announcer
from sync.central.masterdata import load_records
from sync.central.masterfile import MasterRecords
from sync.central.wallet.loyalty import list_loyalty_conflicts
from sync.central.wallet.passes import customer_page_token
from sync.protocol.changes import CustomerUpserted, OrderUpserted
from tests.sync.conftest import sync_config, wait_for
from tests.till_fixtures import make_till
from tests.wallet.centre_harness import PASS_TYPE_ID, CentreWallet, start_centre_wallet

CUSTOMER = "C-WALLET-1"
CASHIER = Actor("ana", "cashier", "staff", "lane-1")
DEVICE = "device-library-id-1"
PUSH_TOKEN = "a1" * 32


@pytest.fixture
def centre(broker, central_factory, tmp_path) -> Iterator[tuple[object, CentreWallet]]:
    db_url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    central = central_factory(broker.url, db_url)
    wallet = start_centre_wallet(tmp_path, db_url, publish=central._send_change)
    yield central, wallet
    wallet.close()


@pytest.fixture
def stores(tmp_path, broker, centre) -> Iterator[dict[str, AgentContext]]:
    _central, wallet = centre
    opened = {}
    for store_id in ("store-a", "store-b"):
        config = sync_config(
            tmp_path / store_id, broker.url, store_id=store_id,
            feed_check_seconds=1, lookup_timeout_ms=5000,
        )  # fmt: skip
        wallet_settings = WalletSettings(keys_dir=wallet.store_keys_dir)  # public key only
        config = config.model_copy(update={"wallet": wallet_settings})
        opened[store_id] = open_agent(config)
    yield opened
    for ctx in opened.values():
        ctx.store.close()


def load_customer_with_pickup_at_store_a(central, wallet: CentreWallet) -> None:
    """The customer, and a click-and-collect order for store A (so A knows them)."""
    customer = CustomerUpserted(
        id=CUSTOMER, loyalty_id="2900000099001", first_name="Lucía", last_name="Núñez",
        consent_marketing=True,
        loyalty={"tier": "bronze", "points": 1500, "lifetime_points": 1000},
    )  # fmt: skip
    order = OrderUpserted(
        number="W-1001", customer_id=CUSTOMER, fulfilment="click_and_collect",
        status="ready_for_pickup", pickup_store_id="store-a",
        placed_at=datetime(2026, 11, 20, tzinfo=UTC), currency="EUR", total_minor=4999,
        payment_method="card",
        lines=[{"line_no": 1, "gtin": "8400000000017", "sku": "DRESS-M", "name": "Vestido",
                "quantity": 1, "unit_price_minor": 4999}],
    )  # fmt: skip
    db = wallet.db()
    try:
        result = load_records(db, MasterRecords([customer], [order]), "test")
    finally:
        db.close()
    for store_id, payload in result.changes:
        central._send_change(store_id, payload)


def pass_files(pkpass: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def openssl_verifies(files: dict[str, bytes], wwdr_pem: bytes, tmp_path: Path) -> bool:
    for name in ("signature", "manifest.json"):
        (tmp_path / name).write_bytes(files[name])
    (tmp_path / "wwdr.pem").write_bytes(wwdr_pem)
    verified = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(tmp_path / "signature"), "-content", str(tmp_path / "manifest.json"),
         "-CAfile", str(tmp_path / "wwdr.pem"), "-purpose", "any", "-out", "/dev/null"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return verified.returncode == 0 and "Verification successful" in verified.stderr


def scan(code: str) -> Scan:
    return Scan(code, "]Q1", "lane-1", datetime.now(UTC))


def points_at(ctx: AgentContext) -> int | None:
    row = ctx.store.db.execute(
        "SELECT points FROM loyalty_accounts WHERE customer_id = ?", [CUSTOMER]
    ).fetchone()
    return row[0] if row else None


def google_patches(wallet: CentreWallet) -> list[dict]:
    return [body for method, _path, body, _auth in wallet.google.requests if method == "PATCH"]


def test_a_pass_from_the_centre_is_recognised_everywhere_and_updates_itself(
    centre, stores, sync_factory, tmp_path
):
    central, wallet = centre
    a, b = stores["store-a"], stores["store-b"]
    sync_a = sync_factory(a)
    sync_b = sync_factory(b)
    load_customer_with_pickup_at_store_a(central, wallet)
    wait_for(lambda: points_at(a) == 1500, "the customer at store A")

    # The retailer's email links the customer's page; the phone takes both passes.
    db = wallet.db()
    token = customer_page_token(db, CUSTOMER, datetime.now(UTC))
    db.close()
    page = requests.get(f"{wallet.base_url}/wallet/c/{token}", timeout=10)
    assert page.status_code == 200 and "Añadir a Apple Wallet" in page.text
    assert "Guardar en Google Wallet" in page.text
    english = requests.get(f"{wallet.base_url}/wallet/c/{token}?lang=en", timeout=10)
    assert "Add to Apple Wallet" in english.text
    assert requests.get(f"{wallet.base_url}/wallet/c/nope", timeout=10).status_code == 404
    pkpass = requests.get(f"{wallet.base_url}/wallet/c/{token}/apple.pkpass", timeout=10)
    assert pkpass.headers["Content-Type"] == "application/vnd.apple.pkpass"
    first = json.loads(pass_files(pkpass.content)["pass.json"])
    serial, code = first["serialNumber"], first["barcodes"][0]["message"]
    assert first["storeCard"]["primaryFields"][0]["value"] == 1500
    save = requests.get(
        f"{wallet.base_url}/wallet/c/{token}/google", timeout=10, allow_redirects=False
    )
    assert save.status_code == 302
    assert save.headers["Location"].startswith("https://pay.google.com/gp/v/save/")
    (google_object_id,) = wallet.google.objects
    again = requests.get(f"{wallet.base_url}/wallet/c/{token}/apple.pkpass", timeout=10)
    assert json.loads(pass_files(again.content)["pass.json"])["serialNumber"] == serial

    # The phone registers with the centre's PassKit web service.
    service = first["webServiceURL"]
    auth = {"Authorization": f"ApplePass {first['authenticationToken']}"}
    registered = requests.post(
        f"{service}/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}/{serial}",
        json={"pushToken": PUSH_TOKEN}, headers=auth, timeout=10,
    )  # fmt: skip
    assert registered.status_code == 201

    # Store A hears of the pass with the customer; then it goes offline and still knows.
    wait_for(
        lambda: (
            a.store.db.execute(
                "SELECT customer_id, on_device FROM passes WHERE serial = ?", [serial]
            ).fetchone()
            == (CUSTOMER, 1)
        ),
        "the pass (on a phone) at store A",
    )
    sync_a.stop()
    assert not sync_a.link_up()
    outcome = ScanDispatcher(a).handle(scan(code))
    assert outcome.status == "identified", outcome.message
    assert outcome.customer.customer_id == CUSTOMER
    assert outcome.customer.wallet_pass == "on_phone"  # staff need not offer it

    # Store B has never seen the customer: it asks the centre within the deadline.
    assert b.store.db.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 0
    wait_for(sync_b.link_up, "store B connected")
    dispatcher = ScanDispatcher(b)
    dispatcher.use_centre(sync_b.centre_lookup)
    outcome = dispatcher.handle(scan(code))
    assert outcome.status == "identified", outcome.message
    assert outcome.customer.customer_id == CUSTOMER
    assert points_at(b) == 1500

    # Points at B's till: the centre counts them, re-issues, pushes, updates Google.
    award = award_points(b, CUSTOMER, "SALE-B-1", Money(20000, "EUR"), actor=CASHIER)
    assert (award.points, award.tier) == (1700, "bronze")
    wait_for(lambda: len(wallet.apns.received) == 1, "one APNs push")
    wait_for(lambda: len(google_patches(wallet)) == 1, "one Google update")
    push = wallet.apns.received[0]
    assert push.path == f"/3/device/{PUSH_TOKEN}"
    assert push.headers["apns-topic"] == PASS_TYPE_ID
    patch = google_patches(wallet)[0]
    assert patch["loyaltyPoints"]["balance"]["int"] == 1700
    assert "notifyPreference" not in patch  # points only: a silent update
    wait_for(lambda: points_at(b) == 1700, "the centre's balance back at store B")

    # The device asks what changed and fetches the new pass; openssl checks it.
    changed = requests.get(
        f"{service}/v1/devices/{DEVICE}/registrations/{PASS_TYPE_ID}",
        params={"passesUpdatedSince": "0"}, timeout=10,
    ).json()  # fmt: skip
    assert changed["serialNumbers"] == [serial]
    latest = requests.get(f"{service}/v1/passes/{PASS_TYPE_ID}/{serial}", headers=auth, timeout=10)
    assert latest.status_code == 200 and "Last-Modified" in latest.headers
    files = pass_files(latest.content)
    assert openssl_verifies(files, wwdr_pem=wallet.wwdr_pem, tmp_path=tmp_path)
    updated = json.loads(files["pass.json"])
    assert updated["storeCard"]["primaryFields"][0]["value"] == 1700
    assert updated["barcodes"][0]["message"] == code  # the same card, same code
    unchanged = requests.get(
        f"{service}/v1/passes/{PASS_TYPE_ID}/{serial}", timeout=10,
        headers={**auth, "If-Modified-Since": latest.headers["Last-Modified"]},
    )  # fmt: skip
    assert unchanged.status_code == 304

    # A tier change: a new pass with its changeMessage, Google notifies (within budget).
    award = award_points(b, CUSTOMER, "SALE-B-2", Money(100000, "EUR"), actor=CASHIER)
    assert award.tier == "silver"
    wait_for(lambda: len(wallet.apns.received) == 2, "the tier change pushed")
    wait_for(lambda: len(google_patches(wallet)) == 2, "the tier change at Google")
    assert google_patches(wallet)[1]["notifyPreference"] == "notifyOnUpdate"
    assert google_patches(wallet)[1]["textModulesData"][0]["body"] == "Plata"
    newest = json.loads(
        pass_files(
            requests.get(
                f"{service}/v1/passes/{PASS_TYPE_ID}/{serial}", headers=auth, timeout=10
            ).content
        )["pass.json"]
    )
    (tier_field,) = newest["storeCard"]["auxiliaryFields"]
    assert (tier_field["value"], tier_field["changeMessage"]) == ("tier.silver", "change.tier")
    assert newest["storeCard"]["primaryFields"][0]["value"] == 2700
    assert wallet.google.objects[google_object_id]["loyaltyPoints"]["balance"]["int"] == 2700
    time.sleep(1.0)  # nothing more follows: two changes, two updates each way
    assert len(wallet.apns.received) == 2 and len(google_patches(wallet)) == 2


def test_a_burst_of_awards_is_one_update(centre, stores, sync_factory):
    central, wallet = centre
    a = stores["store-a"]
    sync_factory(a)
    load_customer_with_pickup_at_store_a(central, wallet)
    wait_for(lambda: points_at(a) == 1500, "the customer at store A")
    db = wallet.db()
    try:
        from sync.central.wallet.passes import issue_loyalty_pass

        issue_loyalty_pass(
            db, wallet.issuer, CUSTOMER, "google", datetime.now(UTC), wallet.google_client
        )
    finally:
        db.close()
    for n in range(10):  # ten small sales rung up together
        award_points(a, CUSTOMER, f"SALE-A-{n}", Money(1000, "EUR"), actor=CASHIER)
    wait_for(lambda: points_at(a) == 1600 and google_patches(wallet), "the burst counted")
    time.sleep(1.5)
    (patch,) = google_patches(wallet)
    assert patch["loyaltyPoints"]["balance"]["int"] == 1600


def test_a_coupon_redeemed_offline_at_two_stores_is_one_conflict_everywhere(
    centre, stores, sync_factory
):
    central, wallet = centre
    a, b = stores["store-a"], stores["store-b"]
    load_customer_with_pickup_at_store_a(central, wallet)
    for ctx in (a, b):
        sync = sync_factory(ctx)
        if ctx is a:
            wait_for(lambda: points_at(a) == 1500, "the customer at store A")
        else:  # B learns of the customer by asking, as at a scan
            wait_for(sync.link_up, "store B connected")
            answer = sync.centre_lookup.fetch_customer_orders("loyalty_id", "2900000099001", 5)
            assert answer is CentreAnswer.FOUND
        sync.stop()  # both stores go offline
        with ctx.store.transaction() as db:
            db.execute(
                "INSERT INTO coupons (code, customer_id, description, kind, value, valid_from,"
                " valid_until, max_redemptions, updated_at) VALUES ('WELCOME10', ?, '-10 %',"
                " 'percent_off', 10, '2026-01-01T00:00:00.000000Z',"
                " '2030-01-01T00:00:00.000000Z', 1, '2026-01-01T00:00:00.000000Z')",
                [CUSTOMER],
            )
        redeem_coupon(ctx, "WELCOME10", CUSTOMER, f"SALE-{ctx.config.store.id}",
                      actor=CASHIER, online=False)  # fmt: skip
    till = make_till(a)
    screen = wiring.till_events_of(till.app).stream("lane-1", keepalive=0.5)
    assert next(screen) == ": connected\n\n"
    for ctx in (a, b):
        sync = sync_factory(ctx)  # back online
        if ctx is a:  # as the daemon wires it
            sync.add_change_listener(conflict_announcer(wiring.till_events_of(till.app)))

    def conflicts_at_centre() -> list[dict]:
        db = wallet.db()
        try:
            return list_loyalty_conflicts(db)
        finally:
            db.close()

    wait_for(conflicts_at_centre, "the conflict at the centre")
    for ctx in (a, b):
        wait_for(
            lambda ctx=ctx: ctx.store.db.execute("SELECT COUNT(*) FROM loyalty_conflicts")
            .fetchone()[0] == 1,
            f"the conflict at {ctx.config.store.id}",
        )  # fmt: skip
    (conflict,) = conflicts_at_centre()
    assert conflict["kind"] == "coupon" and conflict["subject"] == "WELCOME10"
    assert conflict["stores"] == ["store-a", "store-b"]
    assert conflict["detail"]["allowed"] == 1
    assert sorted(u["sale_reference"] for u in conflict["detail"]["uses"]) == [
        "SALE-store-a", "SALE-store-b"]  # fmt: skip
    wait_for(lambda: next(screen).startswith("event: loyalty.conflict\n"), "the till told")
    screen.close()
    till.sign_in()
    (listed,) = till.client.get("/api/v1/loyalty/conflicts").get_json()["conflicts"]
    till.close()
    assert (listed["id"], listed["kind"], listed["subject"]) == (
        conflict["conflict_id"], "coupon", "WELCOME10")  # fmt: skip
    assert listed["stores"] == ["store-a", "store-b"]


def test_google_callbacks_are_verified_replays_dropped_and_presence_reaches_the_till(
    centre, stores, sync_factory
):
    central, wallet = centre
    a = stores["store-a"]
    sync_factory(a)
    load_customer_with_pickup_at_store_a(central, wallet)
    wait_for(lambda: points_at(a) == 1500, "the customer at store A")
    db = wallet.db()
    token = customer_page_token(db, CUSTOMER, datetime.now(UTC))
    db.close()
    requests.get(f"{wallet.base_url}/wallet/c/{token}/google", timeout=10, allow_redirects=False)
    (object_id,) = wallet.google.objects
    serial = object_id.rpartition(".")[2]

    def on_device_at_a():
        row = a.store.db.execute("SELECT on_device FROM passes WHERE serial = ?", [serial])
        return (row.fetchone() or [None])[0]

    wait_for(lambda: on_device_at_a() == 0, "the issued pass at store A")
    url = f"{wallet.base_url}/wallet/google/callback"
    from cryptography.hazmat.primitives.asymmetric import ec

    forged = wallet.callbacks.callback(object_id, root=ec.generate_private_key(ec.SECP256R1()))
    refused = requests.post(url, data=forged, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "callback_refused"
    other_issuer = wallet.callbacks.callback(object_id, recipient="1111111111111111111")
    assert requests.post(url, data=other_issuer, timeout=10).status_code == 400
    expired = wallet.callbacks.callback(object_id, expires_in_ms=-1000)
    assert requests.post(url, data=expired, timeout=10).status_code == 400
    assert requests.post(url, data=b"{not json", timeout=10).status_code == 400
    assert on_device_at_a() == 0  # none of those changed anything

    saved = wallet.callbacks.callback(object_id, "save", nonce="nonce-1")
    assert requests.post(url, data=saved, timeout=10).json() == {"status": "ok"}
    wait_for(lambda: on_device_at_a() == 1, "the saved pass noted at store A")
    deleted = wallet.callbacks.callback(object_id, "del", nonce="nonce-2")
    assert requests.post(url, data=deleted, timeout=10).json() == {"status": "ok"}
    wait_for(lambda: on_device_at_a() == 0, "the deleted pass noted at store A")
    # Google retries, an attacker replays: the same nonce changes nothing again.
    replay = requests.post(url, data=saved, timeout=10)
    assert replay.json() == {"status": "duplicate"}
    time.sleep(0.5)
    assert on_device_at_a() == 0
    metrics = requests.get(f"{wallet.base_url}/metrics", timeout=10).text
    assert 'edge_central_wallet_google_callbacks_total{outcome="refused"} 4.0' in metrics
    assert 'edge_central_wallet_google_callbacks_total{outcome="replayed"} 1.0' in metrics
    assert requests.get(f"{wallet.base_url}/healthz", timeout=10).json() == {"status": "ok"}


def test_an_offline_store_that_never_saw_the_customer_says_so(centre, stores, sync_factory):
    central, wallet = centre
    b = stores["store-b"]
    sync = sync_factory(b)
    sync.stop()
    db = wallet.db()
    try:
        load_customer_with_pickup_at_store_a(central, wallet)
        from sync.central.wallet.passes import issue_loyalty_pass

        issued = issue_loyalty_pass(db, wallet.issuer, CUSTOMER, "apple", datetime.now(UTC))
    finally:
        db.close()
    dispatcher = ScanDispatcher(b)
    dispatcher.use_centre(sync.centre_lookup)
    outcome = dispatcher.handle(scan(issued.code))
    assert outcome.status == "not_found"
    assert "genuine" in outcome.message and "offline" in outcome.message
