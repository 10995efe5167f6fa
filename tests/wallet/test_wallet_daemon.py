"""The wallet in the running agent: a real process, real sockets, a real SQLite file."""

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.agent_process import EDGE_AGENT, AgentProcess
from wallet.codes import PassSigner
from wallet.keys import load_signing_key

EDGE_CENTRAL = str(Path(EDGE_AGENT).with_name("edge-central"))
NOW = datetime.now(UTC)

pytestmark = pytest.mark.slow


def agent_env(tmp_path, **extra):
    env = {
        "EDGE_AGENT__PATHS__DATA_DIR": str(tmp_path / "data"),
        "EDGE_AGENT__WEB__PORT": "0",
        "EDGE_AGENT__SCANNERS": '[{"id": "dev-tcp", "url": "tcp://127.0.0.1:0"}]',
        "EDGE_AGENT__WALLET__KEYS_DIR": str(tmp_path / "store-keys"),
    }
    env.update(extra)
    return env


def cli(program, env, *args):
    done = subprocess.run(
        [program, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_running_agent_checks_centre_passes_with_the_public_key_only(tmp_path):
    centre_keys = tmp_path / "centre-keys"
    cli(EDGE_CENTRAL, {}, "wallet", "keys", str(centre_keys))
    store_keys = tmp_path / "store-keys"
    store_keys.mkdir()
    (store_keys / "pass-signing-1.pub").write_bytes(
        (centre_keys / "pass-signing-1.pub").read_bytes()
    )
    genuine = PassSigner(1, load_signing_key(centre_keys, 1)).sign("loyalty", "LNOTSENTYET1", NOW)
    forged = PassSigner(1, Ed25519PrivateKey.generate()).sign("loyalty", "LNOTSENTYET1", NOW)
    env = agent_env(tmp_path)
    cli(EDGE_AGENT, env, "seed", "--customers", "10", "--orders", "20")
    key = cli(EDGE_AGENT, env, "staff", "api-key", "pos").strip()
    agent = AgentProcess("run", env=env).wait_ready()
    try:

        def identify(code):
            return requests.post(
                f"{agent.web_url}/api/v1/passes/identify", json={"code": code},
                headers={"Authorization": f"Bearer {key}"}, timeout=10,
            )  # fmt: skip

        unknown = identify(genuine)  # genuine, but the centre has not told this store yet
        assert unknown.status_code == 404, unknown.text
        assert unknown.json()["error"]["code"] == "pass_not_found"
        refused = identify(forged)
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "pass_bad_signature"
        # The PassKit web service is the centre's; a store serves none.
        served = requests.get(
            f"{agent.web_url}/passkit/v1/passes/pass.com.example.edge-agent/LNOTSENTYET1",
            timeout=10,
        )
        assert served.status_code == 404
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
