"""The customer's "add to wallet" page under concurrency, on SQLite and PostgreSQL: taps
at the same instant hand out one card."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from datetime import UTC, datetime

import pytest
import requests
from google.auth import jwt as google_jwt

from sync.central.masterdata import load_records
from sync.central.masterfile import MasterRecords
from sync.central.wallet.passes import customer_page_token
from sync.protocol.changes import CustomerUpserted
from tests.sync.postgres import postgres_url  # noqa: F401  (fixture)
from tests.wallet.centre_harness import start_centre_wallet

TAPS = 8


@pytest.fixture(params=["sqlite", "postgres"])
def wallet(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
    wallet = start_centre_wallet(tmp_path, url, start_updater=False)
    yield wallet
    wallet.close()


@pytest.mark.parametrize("platform", ["apple", "google"])
def test_taps_at_the_same_instant_hand_out_one_card(wallet, platform):
    db = wallet.db()
    try:
        customer = CustomerUpserted(
            id="C1", first_name="Ana", last_name="Ruiz",
            loyalty={"tier": "silver", "points": 2500, "lifetime_points": 2500},
        )  # fmt: skip
        load_records(db, MasterRecords([customer], []), "test")
        token = customer_page_token(db, "C1", datetime.now(UTC))
    finally:
        db.close()
    url = f"{wallet.base_url}/wallet/c/{token}/" + (
        "apple.pkpass" if platform == "apple" else "google"
    )
    start = threading.Barrier(TAPS)
    answers: list[requests.Response] = []

    def tap() -> None:
        start.wait()
        answers.append(requests.get(url, timeout=30, allow_redirects=False))

    threads = [threading.Thread(target=tap) for _ in range(TAPS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == TAPS
    if platform == "apple":
        serials = {
            json.loads(zipfile.ZipFile(io.BytesIO(a.content)).read("pass.json"))["serialNumber"]
            for a in answers
        }
    else:
        assert {a.status_code for a in answers} == {302}
        # Each link is signed when asked for (its iat differs); all name the one object.
        serials = {
            google_jwt.decode(a.headers["Location"].rsplit("/", 1)[1], verify=False)[
                "payload"]["loyaltyObjects"][0]["id"]
            for a in answers
        }  # fmt: skip
    assert len(serials) == 1
    db = wallet.db()
    try:
        (count,) = db.execute("SELECT COUNT(*) FROM wallet_passes").fetchone()
    finally:
        db.close()
    assert count == 1
