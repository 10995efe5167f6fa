import io
import json
import zipfile

import pytest
from click.testing import CliRunner

from edge_agent.cli import main
from edge_agent.store import Store
from sync.protocol.clock import utc_now
from wallet.codes import PassVerifier
from wallet.keys import load_public_keys


@pytest.fixture
def env(tmp_path, monkeypatch):
    keys = tmp_path / "keys"
    monkeypatch.setenv("EDGE_AGENT__PATHS__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("EDGE_AGENT__WALLET__KEYS_DIR", str(keys))
    return keys


def configure_dev_files(monkeypatch, keys):
    for key, name in [
        ("APPLE_CERT_FILE", "dev-pass-cert.pem"),
        ("APPLE_KEY_FILE", "dev-pass-key.pem"),
        ("APPLE_WWDR_FILE", "dev-wwdr.pem"),
        ("GOOGLE_SERVICE_ACCOUNT_FILE", "dev-service-account.json"),
        ("ROTATING_SECRET_FILE", "dev-rotating.secret"),
    ]:
        monkeypatch.setenv(f"EDGE_AGENT__WALLET__{key}", str(keys / name))
    monkeypatch.setenv("EDGE_AGENT__WALLET__GOOGLE_ISSUER_ID", "3388000000012345678")
    monkeypatch.setenv("EDGE_AGENT__WALLET__APPLE_WEB_SERVICE_URL", "https://shop.example/passkit")


def test_keys_writes_a_private_key_readable_by_owner_only(env):
    result = CliRunner().invoke(main, ["wallet", "keys", "--key-id", "3"])
    assert result.exit_code == 0, result.output
    assert (env / "pass-signing-3.key").stat().st_mode & 0o077 == 0
    assert list(load_public_keys(env)) == [3]
    again = CliRunner().invoke(main, ["wallet", "keys", "--key-id", "3"])
    assert again.exit_code == 1
    assert "exists already" in again.output


def test_issue_apple_and_google_then_verify(env, tmp_path, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(main, ["wallet", "keys"]).exit_code == 0
    assert runner.invoke(main, ["seed", "--customers", "10", "--orders", "20"]).exit_code == 0
    configure_dev_files(monkeypatch, env)
    out = tmp_path / "card.pkpass"
    apple = runner.invoke(main, ["wallet", "issue", "--customer", "C00000003", "--apple", str(out)])
    assert apple.exit_code == 0, apple.output
    issued = json.loads(apple.output)
    doc = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("pass.json"))
    assert doc["barcodes"][0]["message"] == issued["code"]
    assert doc["serialNumber"] == issued["serial"]

    google = runner.invoke(main, ["wallet", "issue", "--customer", "C00000003", "--google"])
    assert google.exit_code == 0, google.output
    assert json.loads(google.output)["google_save_url"].startswith("https://pay.google.com/")

    verified = runner.invoke(main, ["wallet", "verify", issued["code"]])
    assert verified.exit_code == 0, verified.output
    claims = json.loads(verified.output)
    assert claims["valid"] is True
    assert claims["reference"] == issued["serial"]
    assert claims["kind"] == "loyalty"
    assert PassVerifier(load_public_keys(env)).verify(issued["code"], now=utc_now())


def test_verify_refuses_with_the_reason(env):
    CliRunner().invoke(main, ["wallet", "keys", "--no-dev-certs"])
    refused = CliRunner().invoke(main, ["wallet", "verify", "EP1:AAAAAAAA"])
    assert refused.exit_code == 1
    assert json.loads(refused.output)["code"] == "pass_malformed"


def test_issue_needs_exactly_one_platform(env):
    result = CliRunner().invoke(main, ["wallet", "issue", "--customer", "C1"])
    assert result.exit_code == 2
    assert "--apple FILE or --google" in result.output


def test_issue_without_apple_certificates_says_what_to_set(env, tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["wallet", "keys", "--no-dev-certs"])
    runner.invoke(main, ["seed", "--customers", "5", "--orders", "5"])
    result = runner.invoke(
        main, ["wallet", "issue", "--customer", "C00000001", "--apple", str(tmp_path / "x.pkpass")]
    )
    assert result.exit_code == 1
    assert "apple_cert_file" in result.output
    assert not (tmp_path / "x.pkpass").exists()
    store = Store.open(tmp_path / "data" / "edge-agent.sqlite3")
    try:  # the refused issue left no half-made pass behind
        assert store.db.execute("SELECT COUNT(*) FROM passes").fetchone()[0] == 0
    finally:
        store.close()
