"""The wallet in the running agent: a real process, real sockets, a real SQLite file."""

import io
import json
import os
import subprocess
import zipfile

import pytest
import requests

from tests.agent_process import EDGE_AGENT, AgentProcess

pytestmark = pytest.mark.slow


def agent_env(tmp_path, **extra):
    keys = tmp_path / "keys"
    env = {
        "EDGE_AGENT__PATHS__DATA_DIR": str(tmp_path / "data"),
        "EDGE_AGENT__WEB__PORT": "0",
        "EDGE_AGENT__SCANNERS": '[{"id": "dev-tcp", "url": "tcp://127.0.0.1:0"}]',
        "EDGE_AGENT__WALLET__KEYS_DIR": str(keys),
        "EDGE_AGENT__WALLET__APPLE_CERT_FILE": str(keys / "dev-pass-cert.pem"),
        "EDGE_AGENT__WALLET__APPLE_KEY_FILE": str(keys / "dev-pass-key.pem"),
        "EDGE_AGENT__WALLET__APPLE_WWDR_FILE": str(keys / "dev-wwdr.pem"),
        "EDGE_AGENT__WALLET__APPLE_WEB_SERVICE_URL": "https://shop.example/passkit",
    }
    env.update(extra)
    return env


def cli(env, *args):
    done = subprocess.run(
        [EDGE_AGENT, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_running_agent_identifies_a_pass_and_serves_it_to_wallet(tmp_path):
    env = agent_env(tmp_path)
    cli(env, "wallet", "keys")
    cli(env, "seed", "--customers", "10", "--orders", "20")
    out = tmp_path / "card.pkpass"
    issued = json.loads(cli(env, "wallet", "issue", "--customer", "C00000002", "--apple", str(out)))
    token = json.loads(zipfile.ZipFile(io.BytesIO(out.read_bytes())).read("pass.json"))[
        "authenticationToken"
    ]
    key = cli(env, "staff", "api-key", "pos").strip()
    agent = AgentProcess("run", env=env).wait_ready()
    try:
        identified = requests.post(
            f"{agent.web_url}/api/v1/passes/identify",
            json={"code": issued["code"]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert identified.status_code == 200, identified.text
        assert identified.json()["customer_id"] == "C00000002"
        served = requests.get(
            f"{agent.web_url}/passkit/v1/passes/pass.com.example.edge-agent/{issued['serial']}",
            headers={"Authorization": f"ApplePass {token}"},
            timeout=10,
        )
        assert served.status_code == 200
        assert served.content == out.read_bytes()
    finally:
        assert agent.terminate() == 0


def test_agent_refuses_to_start_with_a_missing_key_directory(tmp_path):
    env = agent_env(tmp_path, EDGE_AGENT__WALLET__KEYS_DIR=str(tmp_path / "nowhere"))
    done = subprocess.run(
        [EDGE_AGENT, "run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "wallet.keys_dir" in done.stderr
