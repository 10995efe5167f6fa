"""The agent with real devices wired: a pty serial scanner and a TCP printer; device
status over HTTP, /healthz degraded (still 200) for a printer out of paper, and a clean
SIGTERM that leaves queued receipts on disk."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from edge_agent.config import PrinterSettings, ScannerSettings
from edge_agent.context import open_agent
from edge_agent.daemon import RunningAgent, start_agent
from edge_agent.printing import PrintQueue
from edge_agent.staff import create_api_key
from tests.agent_process import AgentProcess
from tests.conftest import make_config
from tests.hardware.fakes import PAPER_OK, PAPER_OUT, FakeTcpPrinter, PtyPort, wait_for
from tests.hardware.receipts_data import RETURN


def auth(agent: RunningAgent) -> dict[str, str]:
    """The till API's bearer header for this agent (a device key, made once)."""
    key = getattr(agent, "_test_key", None)
    if key is None:
        key = create_api_key(agent.ctx, "hardware-tests", "cashier")
        agent._test_key = key  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def running(tmp_path: Path, fake_printer: FakeTcpPrinter) -> Iterator[tuple[RunningAgent, PtyPort]]:
    port = PtyPort(tmp_path / "ttyACM0")
    config = make_config(
        tmp_path / "data",
        scanners=(ScannerSettings(id="lane-1", url=f"serial://{port.path}?terminator=CR"),),
        printers=(PrinterSettings(id="receipt", url=fake_printer.url),),
    )
    agent = start_agent(config)
    yield agent, port
    agent.stop()
    port.close()


def test_devices_endpoint_and_degraded_health(
    running: tuple[RunningAgent, PtyPort], fake_printer: FakeTcpPrinter
) -> None:
    agent, _port = running
    assert agent.print_queue is not None
    fake_printer.paper = PAPER_OUT
    agent.print_queue.enqueue_receipt("receipt", RETURN)
    assert wait_for(lambda: agent.print_queue.jobs()[0].last_error is not None)  # type: ignore[union-attr]
    health = requests.get(f"{agent.web_url}/healthz", timeout=5)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded"
    assert body["checks"]["printer:receipt"].startswith("degraded: printer is out of paper")
    assert body["checks"]["scanner:lane-1"] == "ok"
    devices = requests.get(f"{agent.web_url}/api/v1/devices", headers=auth(agent), timeout=5).json()
    [printer] = devices["printers"]
    assert printer["paper"] == "out" and printer["pending_jobs"] == 1
    assert printer["ready"] is False and printer["problem"].startswith("printer is out of paper")
    [scanner] = devices["scanners"]
    assert scanner["kind"] == "serial" and scanner["connected"] is True
    assert scanner["device"].endswith("ttyACM0") and scanner["card_data_dropped"] == 0
    assert devices["print_worker"] == "running"
    assert devices["checks"]["printer:receipt"].startswith("degraded")
    fake_printer.paper = PAPER_OK
    assert wait_for(lambda: agent.print_queue.jobs()[0].state == "printed")  # type: ignore[union-attr]
    assert len(fake_printer.print_data()) == 1


def test_serial_scan_reaches_the_dispatcher_and_unplug_shows_in_health(
    running: tuple[RunningAgent, PtyPort],
) -> None:
    agent, port = running
    assert wait_for(lambda: agent.scanners[0].status()["connected"])
    port.write(b"]E04006381333931\r")
    assert wait_for(lambda: agent.dispatcher.handled == 1)
    row = agent.ctx.store.db.execute("SELECT source, symbology, kind FROM scan_log").fetchone()
    assert row == ("lane-1", "]E0", "gtin")
    port.unplug()
    assert wait_for(lambda: not agent.scanners[0].status()["connected"])
    body = requests.get(f"{agent.web_url}/healthz", timeout=5).json()
    assert body["checks"]["scanner:lane-1"] == "degraded: disconnected"
    assert requests.get(f"{agent.web_url}/healthz", timeout=5).status_code == 200
    port.plug()
    assert wait_for(lambda: agent.scanners[0].status()["connected"])


def test_reprint_last_over_http(
    running: tuple[RunningAgent, PtyPort], fake_printer: FakeTcpPrinter
) -> None:
    agent, _ = running
    url = f"{agent.web_url}/api/v1/printers/receipt/reprint-last"
    nothing = requests.post(url, headers=auth(agent), timeout=5)
    assert nothing.status_code == 404
    assert nothing.json()["error"]["code"] == "nothing_to_reprint"
    assert agent.print_queue is not None
    agent.print_queue.enqueue_receipt("receipt", RETURN)
    assert wait_for(lambda: len(fake_printer.print_data()) == 1)
    assert wait_for(lambda: agent.print_queue.jobs()[0].state == "printed")  # type: ignore[union-attr]
    again = requests.post(url, headers=auth(agent), timeout=5)
    assert again.status_code == 202 and again.json()["reprint_of"] is not None
    assert wait_for(lambda: len(fake_printer.print_data()) == 2)
    assert wait_for(lambda: agent.print_queue.jobs()[0].state == "printed")  # type: ignore[union-attr]
    assert fake_printer.print_data()[0] == fake_printer.print_data()[1]
    unknown = requests.post(
        f"{agent.web_url}/api/v1/printers/kitchen/reprint-last", headers=auth(agent), timeout=5
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "printer_not_found"
    jobs = requests.get(
        f"{agent.web_url}/api/v1/printers/receipt/jobs?limit=5", headers=auth(agent), timeout=5
    )
    assert [j["state"] for j in jobs.json()["jobs"]] == ["printed", "printed"]
    bad = requests.get(
        f"{agent.web_url}/api/v1/printers/receipt/jobs?limit=0", headers=auth(agent), timeout=5
    )
    assert bad.status_code == 400


def test_sigterm_keeps_waiting_receipts_and_the_next_start_prints_them_once(
    tmp_path: Path, fake_printer: FakeTcpPrinter
) -> None:
    config_file = tmp_path / "edge-agent.toml"
    config_file.write_text(
        '[web]\nport = 0\n[[scanners]]\nid = "lane-1"\nurl = "tcp://127.0.0.1:0"\n'
        f'[[printers]]\nid = "receipt"\nurl = "{fake_printer.url}"\npaper_width_mm = 58\n',
        encoding="utf-8",
    )
    from edge_agent.config import load_config

    config = load_config(config_file)
    ctx = open_agent(config)
    try:
        job = PrintQueue(ctx).enqueue_receipt("receipt", RETURN)  # queued before start
    finally:
        ctx.store.close()
    fake_printer.paper = PAPER_OUT
    agent = AgentProcess("--config", str(config_file), "run").wait_ready()
    try:
        assert any("printer receipt: tcp 127.0.0.1" in line for line in agent.output)
        assert wait_for(lambda: _job(tmp_path, job.id)[1] is not None, timeout=10)
    finally:
        assert agent.terminate() == 0
    assert _job(tmp_path, job.id)[0] == "pending"
    assert fake_printer.print_data() == []
    fake_printer.paper = PAPER_OK
    agent = AgentProcess("--config", str(config_file), "run").wait_ready()
    try:
        assert wait_for(lambda: _job(tmp_path, job.id)[0] == "printed", timeout=10)
    finally:
        assert agent.terminate() == 0
    assert len(fake_printer.print_data()) == 1


def _job(base: Path, job_id: int) -> tuple[str, str | None]:
    with sqlite3.connect(base / "var" / "edge-agent.sqlite3") as db:
        return db.execute(
            "SELECT state, last_error FROM print_jobs WHERE id = ?", [job_id]
        ).fetchone()
