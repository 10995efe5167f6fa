"""The agent as a user runs it: a real process, real sockets, a real SQLite file."""

import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest
import requests

from tests.agent_process import EDGE_AGENT, AgentProcess

pytestmark = pytest.mark.slow


def scan_over_tcp(address: tuple[str, int], code: str) -> str:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(code.encode() + b"\n")
        return sock.makefile("rb").readline().decode().strip()


def outbox(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [r[0] for r in conn.execute("SELECT type FROM outbox ORDER BY seq")]


def first_loyalty_id(agent: AgentProcess) -> str:
    line = next(line for line in agent.output if line.startswith("Scan a loyalty card"))
    return line.split("edge-agent scan ")[1].split()[0]


def test_demo_runs_offline_identifies_a_scanned_customer_and_stops_cleanly(tmp_path):
    data_dir = tmp_path / "demo"
    agent = AgentProcess(
        "demo",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--scanner-port",
        "0",
        "--customers",
        "80",
        "--orders",
        "400",
    ).wait_ready()
    try:
        health = requests.get(f"{agent.web_url}/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["checks"]["sync"] == "offline"
        assert agent.scanner is not None
        reply = scan_over_tcp(agent.scanner, first_loyalty_id(agent))
        assert reply.startswith("identified: ")
        host, port = agent.scanner
        cli = subprocess.run(
            [EDGE_AGENT, "scan", "W100000001", "--to", f"{host}:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert cli.stdout.startswith("order_found: order W100000001")
    finally:
        code = agent.terminate()
    assert code == 0, agent.stop_and_stderr()
    database = data_dir / "edge-agent.sqlite3"
    assert outbox(database).count("customer.identified") == 1
    assert outbox(database).count("scan.recorded") == 2
    # The WAL was checkpointed and the file is whole after the clean stop.
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_run_with_a_config_file_and_an_unreachable_broker_still_serves(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    config = tmp_path / "edge-agent.toml"
    config.write_text(
        '[store]\nid = "test-store"\n[web]\nport = 0\n'
        '[[scanners]]\nid = "lane-1"\nurl = "tcp://127.0.0.1:0"\n'
        f'[sync]\nbroker_url = "mqtt://127.0.0.1:{dead_port}"\n',
        encoding="utf-8",
    )
    agent = AgentProcess("--config", str(config), "run").wait_ready()
    try:
        body = requests.get(f"{agent.web_url}/healthz", timeout=5).json()
        assert body["status"] == "ok"
        assert body["store_id"] == "test-store"
        reply = scan_over_tcp(agent.scanner, "2900000000017")
        assert reply.startswith("not_found: ")  # nothing seeded: clear answer, no crash
    finally:
        assert agent.terminate() == 0
    assert outbox(tmp_path / "var" / "edge-agent.sqlite3") == ["scan.recorded"]


def test_bad_config_stops_start_up_naming_the_key(tmp_path):
    config = tmp_path / "edge-agent.toml"
    config.write_text("[web]\nport = 99999\n", encoding="utf-8")
    agent = AgentProcess("--config", str(config), "run")
    code = agent.proc.wait(timeout=30)
    err = agent.stop_and_stderr()
    assert code == 2
    assert f"{config}: web.port:" in err
    assert "Traceback" not in err


def test_port_in_use_is_a_clear_start_up_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        agent = AgentProcess(
            "run",
            env={
                "EDGE_AGENT__WEB__PORT": str(port),
                "EDGE_AGENT__PATHS__DATA_DIR": str(tmp_path),
                "EDGE_AGENT__SCANNERS": "[]",
            },
        )
        code = agent.proc.wait(timeout=30)
        err = agent.stop_and_stderr()
    assert code == 1
    assert "cannot listen" in err
    assert "Traceback" not in err
