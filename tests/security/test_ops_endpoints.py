"""Operator endpoints and odd bodies: /metrics stays bounded whatever clients invent,
/metrics and the health detail answer the device itself or the operator token, the
centre's fleet view likewise, the PassKit log endpoint is capped and newline-safe, and
deep nesting is a 400."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from edge_agent.metrics import MAX_NAMED_SOURCES
from sync.central.web import create_fleet_app

LAN_CLIENT = {"REMOTE_ADDR": "192.0.2.7"}  # documentation range: no traffic, just a label


def _with_ops_token(till, token: str) -> None:
    web = till.ctx.config.web.model_copy(update={"ops_token": token})
    till.app.extensions["edge_agent"] = replace(
        till.ctx, config=till.ctx.config.model_copy(update={"web": web})
    )


def test_invented_methods_and_scan_sources_do_not_grow_metrics(till):
    baseline = len(till.client.get("/metrics").data)
    for i in range(200):
        till.client.open("/healthz", method=f"X{i:04d}" + "A" * 1000)
        till.client.post("/api/v1/scans", json={"data": "8437000100018", "source": f"src-{i}"})
    text = till.client.get("/metrics").get_data(as_text=True)
    assert "AAAA" not in text and 'method="other"' in text
    # The first few names a till gives itself keep a label; past that, "other".
    assert 'source="src-0"' in text and 'source="src-199"' not in text
    assert 'source="other"' in text
    named = {line.split('source="')[1].split('"')[0] for line in text.splitlines()
             if line.startswith("edge_agent_scans_total{")}  # fmt: skip
    assert len(named) <= MAX_NAMED_SOURCES + 1
    assert len(text) < baseline + 40_000  # dozens of series, not hundreds


def test_a_configured_scanner_keeps_its_own_label(till):
    till.client.post("/api/v1/scans", json={"data": "8437000100018", "source": "dev-tcp"})
    till.client.post("/api/v1/scans", json={"data": "8437000100018", "source": "kiosk"})
    text = till.client.get("/metrics").get_data(as_text=True)
    assert 'source="dev-tcp"' in text and 'source="kiosk"' in text


def test_metrics_and_health_detail_need_loopback_or_the_ops_token(till):
    refused = till.client.get("/metrics", environ_base=LAN_CLIENT)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "ops_token_required"
    health = till.client.get("/healthz", environ_base=LAN_CLIENT)
    assert health.status_code == 200
    assert health.get_json() == {"status": "ok"}  # up or down, nothing more
    assert "outbox" in till.client.get("/healthz").get_json()  # on the device itself
    _with_ops_token(till, "ops-secret-for-this-test")
    wrong = {"Authorization": "Bearer nope"}
    assert till.client.get("/metrics", environ_base=LAN_CLIENT, headers=wrong).status_code == 401
    right = {"Authorization": "Bearer ops-secret-for-this-test"}
    assert till.client.get("/metrics", environ_base=LAN_CLIENT, headers=right).status_code == 200
    detail = till.client.get("/healthz", environ_base=LAN_CLIENT, headers=right).get_json()
    assert "outbox" in detail and "checks" in detail


def test_fleet_view_needs_this_host_or_the_token(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    client = create_fleet_app(db_url, token="fleet-secret").test_client()
    assert client.get("/fleet.json").status_code == 200
    outside = client.get("/fleet.json", environ_base=LAN_CLIENT)
    assert outside.status_code == 401
    assert outside.get_json()["error"]["code"] == "ops_token_required"
    assert client.get("/fleet", environ_base=LAN_CLIENT).status_code == 401
    with_token = client.get("/fleet.json", environ_base=LAN_CLIENT,
                            headers={"Authorization": "Bearer fleet-secret"})  # fmt: skip
    assert with_token.status_code == 200
    no_token = create_fleet_app(db_url).test_client()
    assert no_token.get("/fleet.json", environ_base=LAN_CLIENT,
                        headers={"Authorization": "Bearer "}).status_code == 401  # fmt: skip


@pytest.fixture
def wallet_service(tmp_path):
    """The centre's wallet web service (the PassKit web service is the centre's)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sync.central.db import CentralDb
    from sync.central.wallet.registry import ThreadDb
    from sync.central.wallet.web import WalletWeb, create_wallet_app
    from wallet.codes import PassSigner
    from wallet.issuer import PassIssuer

    url = f"sqlite:///{tmp_path / 'central.sqlite3'}"
    CentralDb(url).create_schema()
    dbs = ThreadDb(url)
    app = create_wallet_app(WalletWeb(PassIssuer(PassSigner(1, Ed25519PrivateKey.generate())), dbs))
    yield app.test_client()
    dbs.close()


def test_passkit_log_is_capped_and_cannot_forge_log_lines(wallet_service, caplog):
    caplog.set_level(logging.WARNING)
    forged = "real problem\n2026-01-01 ERROR edge_agent: forged line"
    assert wallet_service.post("/passkit/v1/log", json={"logs": [forged]}).status_code == 200
    device_lines = [r.getMessage() for r in caplog.records if "device log" in r.getMessage()]
    assert len(device_lines) == 1
    assert "\n" not in device_lines[0] and "\\n2026-01-01" in device_lines[0]
    big = wallet_service.post("/passkit/v1/log", data=b'{"logs": ["' + b"a" * 50_000_000 + b'"]}',
                           content_type="application/json")  # fmt: skip
    assert big.status_code == 400
    caplog.clear()
    for _ in range(20):
        wallet_service.post("/passkit/v1/log", json={"logs": ["x"] * 50})
    written = [r for r in caplog.records if "device log" in r.getMessage()]
    assert len(written) <= 200  # the minute's budget, from everyone together


@pytest.mark.parametrize("path", ["/api/v1/auth/sign-in", "/api/v1/scans"])
def test_deep_nesting_is_a_400_not_a_traceback(till, path):
    answer = till.client.post(path, data="[" * 32_000, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalid_json"
    nested_object = '{"a":' * 10_000
    answer = till.client.post(path, data=nested_object, content_type="application/json")
    assert answer.status_code == 400
