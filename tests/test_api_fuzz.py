"""schemathesis, as an outside checker runs it: its CLI with every check (`--checks all`)
against the served OpenAPI document of a live till, over real HTTP, with the token a till
gets from sign-in. Every operation is covered: sign-out in a run of its own at the end (it
ends the session the other runs use), the till's SSE stream read for a bounded time.

A schema-valid request must be answered 2xx or with one of the operation's documented
business refusals: every documented 4xx except 400 (the request is not what the document
allows) and 415 (not JSON). That is schemathesis' `positive_data_acceptance` check, given
each operation's list from the document itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import replace
from pathlib import Path

from edge_agent.config import WalletSettings
from pos_bridge.openapi import openapi_document
from tests.http_server import serving
from tests.till_fixtures import make_till
from wallet.keyring import PassKeyRing
from wallet.keys import load_public_keys, write_signing_key

# Per operation and generation phase; enough to reach every refusal branch (the listed
# bugs fall out within the first dozen), few enough to keep the run under a minute on 2 cores.
MAX_EXAMPLES = 80
SEED = 20261206  # a fixed seed: a failure in CI replays the same way on a laptop
SIGN_OUT = openapi_document()["paths"]["/api/v1/auth/sign-out"]["post"]["operationId"]
# Request errors: never a fitting answer to a request the document allows.
NOT_BUSINESS = {"400", "415", "500"}
# The till's event stream never ends: schemathesis reads it this long, a few times.
SSE_READ_SECONDS = 0.5
SSE_EXAMPLES = 5
# Each SSE request leaves a stream the server drops at its next keep-alive that fails;
# short here so the fuzzer's abandoned streams do not hold the server's threads.
KEEPALIVE_SECONDS = 0.2


def test_schemathesis_every_check_every_operation(seeded, tmp_path):
    write_signing_key(tmp_path / "keys", 1)  # a store that checks wallet passes
    wallet = WalletSettings(keys_dir=tmp_path / "keys")
    config = seeded.config.model_copy(update={"wallet": wallet})
    keys = PassKeyRing(load_public_keys(tmp_path / "keys"))
    till = make_till(replace(seeded, config=config, pass_keys=keys))
    till.app.extensions["till_events"].keepalive_seconds = KEEPALIVE_SECONDS
    settings = write_settings(tmp_path / "schemathesis.toml")
    try:
        with serving(till.app, threads=8) as base_url:
            token = sign_in(base_url)
            main = run_schemathesis(base_url, token, settings, tmp_path, "--exclude-operation-id")
            assert main.returncode == 0, main.stdout[-20000:] + main.stderr[-2000:]
            last = run_schemathesis(base_url, token, settings, tmp_path, "--include-operation-id")
            assert last.returncode == 0, last.stdout[-20000:] + last.stderr[-2000:]
            assert "1 selected" in last.stdout.replace("Selected: 1/", "1 selected")
            assert status_with(base_url, token) == 401  # sign-out really ended the session
    finally:
        till.close()


def write_settings(path: Path) -> Path:
    """schemathesis.toml: each operation's business refusals, from the document."""
    lines = ["request-timeout = 10", ""]
    for item in openapi_document()["paths"].values():
        for operation in item.values():
            refusals = sorted(set(operation["responses"]) - NOT_BUSINESS - {"200", "201", "202"})
            lines += [
                "[[operations]]",
                f'include-operation-id = "{operation["operationId"]}"',
                "checks.positive_data_acceptance.expected-statuses = "
                + json.dumps(["2xx", *refusals]),
            ]
            if "text/event-stream" in json.dumps(operation["responses"]):
                lines += [f"request-timeout = {SSE_READ_SECONDS}", "max-stream-events = 3",
                          f"generation.max-examples = {SSE_EXAMPLES}"]  # fmt: skip
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def run_schemathesis(
    base_url: str, token: str, settings: Path, tmp_path: Path, sign_out_filter: str
) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("schemathesis")
    command = [
        str(cli), "--config-file", str(settings), "run", f"{base_url}/api/v1/openapi.json",
        "--checks", "all", "--header", f"Authorization: Bearer {token}",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(SEED), "--workers", "1",
        sign_out_filter, SIGN_OUT, "--no-color", "--generation-database", "none",
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_TELEMETRY": "false"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env
    )


def sign_in(base_url: str) -> str:
    """The till's own way in: a supervisor's PIN at lane-1 (supervisor reaches every
    operation, conflict resolution included)."""
    body = json.dumps({"staff_id": "luis", "pin": "9876", "till_id": "lane-1"}).encode()
    request = urllib.request.Request(
        f"{base_url}/api/v1/auth/sign-in", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["token"]


def status_with(base_url: str, token: str) -> int:
    request = urllib.request.Request(
        f"{base_url}/api/v1/devices", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
