"""`edge-central wallet` issues passes (the centre holds the private key); a store's
`edge-agent wallet verify` checks them with the public key only."""

import io
import json
import zipfile

import pytest
from click.testing import CliRunner

from edge_agent.cli import main as agent_main
from sync.central.cli import main as central_main
from sync.central.db import CentralDb
from sync.central.masterdata import load_records
from sync.central.masterfile import MasterRecords
from sync.protocol.changes import CustomerUpserted
from sync.protocol.clock import utc_now
from tests.wallet.google_standin import API_PREFIX, GoogleStandIn
from wallet.codes import PassVerifier
from wallet.keys import load_public_keys


@pytest.fixture
def centre(tmp_path, monkeypatch):
    keys = tmp_path / "centre-keys"
    result = CliRunner().invoke(central_main, ["wallet", "keys", str(keys), "--dev-certs"])
    assert result.exit_code == 0, result.output
    db_url = f"sqlite://{tmp_path / 'central.sqlite3'}"
    monkeypatch.setenv("EDGE_CENTRAL_DB", db_url)
    monkeypatch.setenv("EDGE_CENTRAL_WALLET_CONFIG", str(keys / "wallet.toml"))
    db = CentralDb(db_url)
    db.create_schema()
    customer = CustomerUpserted(
        id="C1", first_name="Ana", last_name="Ruiz",
        loyalty={"tier": "gold", "points": 9100, "lifetime_points": 9100},
    )  # fmt: skip
    load_records(db, MasterRecords([customer], []), "test")
    db.close()
    return keys


def test_keys_writes_a_private_key_readable_by_owner_only(tmp_path):
    keys = tmp_path / "keys"
    result = CliRunner().invoke(central_main, ["wallet", "keys", str(keys), "--key-id", "3"])
    assert result.exit_code == 0, result.output
    assert (keys / "pass-signing-3.key").stat().st_mode & 0o077 == 0
    assert list(load_public_keys(keys)) == [3]
    again = CliRunner().invoke(central_main, ["wallet", "keys", str(keys), "--key-id", "3"])
    assert again.exit_code == 1
    assert "exists already" in again.output


@pytest.fixture
def google(centre, monkeypatch):
    """Google's token endpoint and Wallet API stand-in, for the dev service account."""
    standin = GoogleStandIn((centre / "dev-service-account.pem").read_bytes())
    standin.start()
    account = centre / "dev-service-account.json"
    info = json.loads(account.read_text())
    account.write_text(json.dumps(dict(info, token_uri=f"{standin.base}/token")))
    monkeypatch.setenv("EDGE_CENTRAL_WALLET_GOOGLE_API_URL", standin.base + API_PREFIX)
    yield standin
    standin.stop()


def test_issue_at_the_centre_then_verify_at_a_store_with_the_public_key(
    centre, google, tmp_path, monkeypatch
):
    runner = CliRunner()
    out = tmp_path / "card.pkpass"
    apple = runner.invoke(central_main, ["wallet", "issue", "C1", "--apple", str(out)])
    assert apple.exit_code == 0, apple.output
    issued = json.loads(apple.output)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("pass.json"))
    assert doc["barcodes"][0]["message"] == issued["code"]
    assert doc["serialNumber"] == issued["serial"]
    assert doc["storeCard"]["primaryFields"][0]["value"] == 9100
    assert doc["webServiceURL"].endswith("/passkit")
    again = runner.invoke(central_main, ["wallet", "issue", "C1", "--apple", str(out)])
    assert json.loads(again.output)["serial"] == issued["serial"]  # one card per customer
    assert json.loads(again.output)["new"] is False

    saved = runner.invoke(central_main, ["wallet", "issue", "C1", "--google"])
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.output)["google_save_url"].startswith("https://pay.google.com/")
    (inserted,) = google.objects.values()  # inserted first: later updates find it
    assert inserted["loyaltyPoints"]["balance"]["int"] == 9100

    store_keys = tmp_path / "store-keys"
    store_keys.mkdir()
    (store_keys / "pass-signing-1.pub").write_bytes((centre / "pass-signing-1.pub").read_bytes())
    monkeypatch.setenv("EDGE_AGENT__PATHS__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EDGE_AGENT__WALLET__KEYS_DIR", str(store_keys))
    verified = runner.invoke(agent_main, ["wallet", "verify", issued["code"]])
    assert verified.exit_code == 0, verified.output
    claims = json.loads(verified.output)
    assert (claims["valid"], claims["reference"], claims["kind"]) == (
        True, issued["serial"], "loyalty")  # fmt: skip
    assert PassVerifier(load_public_keys(store_keys)).verify(issued["code"], now=utc_now())
    refused = runner.invoke(agent_main, ["wallet", "verify", "EP1:AAAAAAAA"])
    assert refused.exit_code == 1
    assert json.loads(refused.output)["code"] == "pass_malformed"


def test_link_prints_the_customers_page_once_made(centre):
    first = CliRunner().invoke(central_main, ["wallet", "link", "C1"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("http://127.0.0.1:8091/wallet/c/")
    assert CliRunner().invoke(central_main, ["wallet", "link", "C1"]).output == first.output
    unknown = CliRunner().invoke(central_main, ["wallet", "link", "C404"])
    assert unknown.exit_code == 1
    assert "not in the centre's master data" in unknown.output


def test_issue_needs_exactly_one_platform(centre):
    result = CliRunner().invoke(central_main, ["wallet", "issue", "C1"])
    assert result.exit_code == 1
    assert "--apple FILE or --google" in result.output


def test_a_store_cannot_issue(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_AGENT__PATHS__DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(agent_main, ["wallet", "issue", "--customer", "C1"])
    assert result.exit_code == 2
    assert "No such command 'issue'" in result.output


def test_serve_runs_the_wallet_service_until_sigterm(centre, google, tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import requests

    link = CliRunner().invoke(central_main, ["wallet", "link", "C1"]).output.strip()
    token = link.rsplit("/", 1)[1]
    program = str(Path(sys.executable).with_name("edge-central"))
    proc = subprocess.Popen(
        [program, "wallet", "serve", "--port", "0"],
        env=dict(os.environ), stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = proc.stderr.readline()
        base = re.search(r"http://\S+", line).group(0)
        assert requests.get(f"{base}/healthz", timeout=10).json() == {"status": "ok"}
        (cls,) = google.classes.values()  # made at start, pointing Google's callbacks here
        assert cls["callbackOptions"]["url"] == "http://127.0.0.1:8091/wallet/google/callback"
        page = requests.get(f"{base}/wallet/c/{token}", timeout=10)
        assert page.status_code == 200 and "Añadir a Apple Wallet" in page.text
        pkpass = requests.get(f"{base}/wallet/c/{token}/apple.pkpass", timeout=10)
        doc = json.loads(zipfile.ZipFile(io.BytesIO(pkpass.content)).read("pass.json"))
        assert doc["storeCard"]["primaryFields"][0]["value"] == 9100
        assert (
            "edge_central_wallet_passes_issued_total"
            in requests.get(f"{base}/metrics", timeout=10).text
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    status = json.loads(CliRunner().invoke(central_main, ["wallet", "status"]).output)
    assert status["passes"] == {"apple": {"active": 1}}
    assert status["on_phone"] == {"apple": 0, "google": 0}
    assert json.loads(CliRunner().invoke(central_main, ["wallet", "conflicts"]).output) == []


def test_a_coupon_pass_from_the_centre_is_checked_at_a_store_as_a_coupon(centre, tmp_path):
    out = tmp_path / "coupon.pkpass"
    done = CliRunner().invoke(central_main, [
        "wallet", "coupon", "C1", "--title", "-20 % en vestidos", "--terms", "Hasta fin de mes",
        "--expires", "2030-12-31", "--apple", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    issued = json.loads(done.output)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("pass.json"))
    assert doc["coupon"]["primaryFields"][0]["value"] == "-20 % en vestidos"
    assert doc["expirationDate"] == "2031-01-01T00:00:00Z"
    assert doc["barcodes"][0]["message"] == issued["code"]
    claims = PassVerifier(load_public_keys(centre)).verify(issued["code"], now=utc_now())
    assert (claims.kind, claims.reference) == ("coupon", issued["serial"])
    assert claims.expires_at is not None and claims.expires_at.year == 2031
    again = ["wallet", "coupon", "C1", "--title", "2x1", "--apple", str(tmp_path / "c2.pkpass")]
    second = CliRunner().invoke(central_main, again)
    assert json.loads(second.output)["serial"] != issued["serial"]  # coupons: many per customer
    status = json.loads(CliRunner().invoke(central_main, ["wallet", "status"]).output)
    assert status["passes"] == {"apple": {"active": 2}}
