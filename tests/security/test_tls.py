"""HTTPS for tablets and kiosks on the LAN: the agent serves TLS with the store's own
certificate (made here by openssl, an independent tool), and warns when it listens
beyond this machine without it."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import requests

from tests.agent_process import EDGE_AGENT, AgentProcess


def store_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "store.crt", directory / "store.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "2", "-subj", "/CN=till.store.test",
         "-addext", "subjectAltName=DNS:till.store.test,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def _demo(tmp_path: Path, env: dict[str, str]) -> AgentProcess:
    return AgentProcess(
        "demo", "--data-dir", str(tmp_path / "demo"), "--port", "0", "--scanner-port", "0",
        "--customers", "20", "--orders", "50", env=env,
    ).wait_ready()  # fmt: skip


def test_the_agent_serves_https_with_the_store_certificate(tmp_path):
    cert, key = store_certificate(tmp_path)
    agent = _demo(
        tmp_path,
        {"EDGE_AGENT__WEB__TLS_CERT_FILE": str(cert), "EDGE_AGENT__WEB__TLS_KEY_FILE": str(key)},
    )
    try:
        assert agent.web_url.startswith("https://127.0.0.1:")
        health = requests.get(f"{agent.web_url}/healthz", verify=str(cert), timeout=10)
        assert health.status_code == 200
        signed_in = requests.post(
            f"{agent.web_url}/api/v1/auth/sign-in",
            json={"staff_id": "ana", "pin": "1234", "till_id": "lane-1"},
            verify=str(cert),
            timeout=10,
        )
        assert signed_in.status_code == 200
        # A client that does not trust the store's certificate is refused by TLS itself.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{agent.web_url}/healthz", timeout=10)
        # Plain HTTP to the TLS port gets no answer from the application.
        host, port = agent.web_url.removeprefix("https://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b'"status"' not in sock.recv(4096)
        # The handshake is TLS 1.2 or better.
        context = ssl.create_default_context(cafile=str(cert))
        with (
            socket.create_connection((host, int(port)), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="till.store.test") as tls,
        ):
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        assert agent.terminate() == 0


def test_listening_on_the_lan_without_tls_is_warned_about(tmp_path):
    agent = _demo(tmp_path, {"EDGE_AGENT__WEB__HOST": "0.0.0.0"})
    agent.terminate()
    _, err = agent.proc.communicate(timeout=10)
    assert "without TLS" in err
    assert "web.tls_cert_file" in err


def test_half_a_tls_setting_is_refused_at_start(tmp_path):
    cert, _ = store_certificate(tmp_path)
    config = tmp_path / "agent.toml"
    config.write_text(f'[web]\ntls_cert_file = "{cert}"\n')
    check = subprocess.run(
        [EDGE_AGENT,
         "--config", str(config), "config", "check"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert check.returncode == 2
    assert "tls_key_file" in check.stderr
