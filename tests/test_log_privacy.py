"""A full flow with debug logging on: the log is JSON lines and holds no personal data."""

import json

import pytest
import requests

from edge_agent.context import open_agent
from edge_agent.seed import seed_store
from edge_agent.staff import create_api_key
from sync.protocol.clock import iso_now
from tests.agent_process import AgentProcess
from tests.conftest import make_config
from tests.test_daemon import scan_over_tcp

pytestmark = pytest.mark.slow

EMAIL = "zoe.quintanilla@correo.example"
PHONE = "+34 655 123 987"
FIRST, LAST = "Zoé", "Quintanilla Ñúñez"
LOYALTY = "2999999999994"


def test_full_flow_logs_json_without_personal_data(tmp_path):
    data_dir = tmp_path / "data"
    ctx = open_agent(make_config(data_dir))
    try:
        seed_store(ctx, customers=20, orders=100)
        now = iso_now()
        with ctx.store.transaction() as db:
            db.execute(
                "INSERT INTO customers (id, loyalty_id, first_name, last_name, email_hash,"
                " phone_hash, created_at, updated_at) VALUES ('C-PRIV', ?, ?, ?, ?, ?, ?, ?)",
                [LOYALTY, FIRST, LAST, ctx.hasher.email(EMAIL), ctx.hasher.phone(PHONE),
                 now, now],
            )  # fmt: skip
        key = create_api_key(ctx, "pos", "cashier")
    finally:
        ctx.store.close()
    auth = {"Authorization": f"Bearer {key}"}
    agent = AgentProcess(
        "--log-level", "debug", "--log-format", "json", "run",
        env={"EDGE_AGENT__PATHS__DATA_DIR": str(data_dir), "EDGE_AGENT__WEB__PORT": "0",
             "EDGE_AGENT__SCANNERS": '[{"id": "lane-1", "url": "tcp://127.0.0.1:0"}]'},
    ).wait_ready()  # fmt: skip
    url = agent.web_url
    try:
        identify = f"{url}/api/v1/customers/identify"
        assert (
            requests.post(identify, json={"email": EMAIL}, timeout=5, headers=auth).json()[
                "first_name"
            ]
            == FIRST
        )
        assert (
            requests.post(identify, json={"phone": PHONE}, timeout=5, headers=auth).status_code
            == 200
        )
        assert (
            requests.post(identify, json={"query": LOYALTY}, timeout=5, headers=auth).status_code
            == 200
        )
        assert (
            requests.post(
                identify, json={"email": "x" + EMAIL}, timeout=5, headers=auth
            ).status_code
            == 404
        )
        bad = requests.post(identify, data=f'{{"email": "{EMAIL}"', timeout=5,
                            headers={"content-type": "application/json", **auth})  # fmt: skip
        assert bad.status_code == 400
        assert scan_over_tcp(agent.scanner, LOYALTY).startswith("identified: ")
        assert requests.post(
            f"{url}/api/v1/scans", json={"data": LOYALTY}, timeout=5, headers=auth
        ).ok
        assert requests.get(f"{url}/api/v1/customers/C-PRIV/orders", timeout=5, headers=auth).ok
    finally:
        assert agent.terminate() == 0
    log = agent.stop_and_stderr()
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "the agent logged nothing at debug level"
    records = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    for secret in (EMAIL, PHONE, "655123987", "+34655123987", FIRST, "Quintanilla", LOYALTY):
        assert secret not in log, f"{secret!r} reached the log"
