"""The systemd unit and the sd_notify/watchdog protocol, checked with systemd's own tools
and a real notify socket."""

import re
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge_agent.daemon import start_agent
from hardware.scan import Scan
from tests import systemd_checks
from tests.agent_process import EDGE_AGENT, AgentProcess

UNIT = Path(__file__).parent.parent / "systemd" / "edge-agent.service"
# Exposure score from `systemd-analyze security`: 0 is locked down, 10 is wide open.
MAX_EXPOSURE = 2.5


def installed_unit(tmp_path: Path) -> Path:
    return systemd_checks.installed_unit(
        UNIT, tmp_path, "/opt/edge-agent/.venv/bin/edge-agent", EDGE_AGENT
    )


def test_unit_passes_systemd_analyze_verify(tmp_path):
    systemd_checks.assert_verifies(installed_unit(tmp_path))


def test_unit_exposure_score_stays_low(tmp_path):
    assert systemd_checks.exposure(installed_unit(tmp_path)) <= MAX_EXPOSURE


def test_agent_tells_systemd_ready_alive_and_stopping(tmp_path):
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(15)
    messages: list[str] = []
    agent = AgentProcess(
        "run",
        env={
            "NOTIFY_SOCKET": address,
            "WATCHDOG_USEC": "400000",
            "EDGE_AGENT__PATHS__DATA_DIR": str(tmp_path / "data"),
            "EDGE_AGENT__WEB__PORT": "0",
            "EDGE_AGENT__SCANNERS": "[]",
        },
    ).wait_ready()
    try:
        while sum(m == "WATCHDOG=1" for m in messages) < 3:
            messages.append(listener.recv(4096).decode())
    finally:
        code = agent.terminate()
    while not messages[-1].startswith("STOPPING=1"):
        messages.append(listener.recv(4096).decode())
    listener.close()
    assert code == 0
    assert messages[0].startswith("READY=1\nSTATUS=serving http://127.0.0.1:")
    assert messages.index("WATCHDOG=1") > 0


def test_a_stuck_scan_is_reported_as_a_liveness_problem(config):
    running = start_agent(config)
    release = threading.Event()
    try:
        running.dispatcher._stall_seconds = 0.3
        handle = running.dispatcher.handle
        running.dispatcher.handle = lambda scan: (release.wait(10), handle(scan))[1]
        assert running.liveness_problem() is None
        running.dispatcher.submit(Scan("garbage", None, "t", datetime.now(UTC)))
        deadline = time.monotonic() + 10
        while running.liveness_problem() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.liveness_problem() == "the scan dispatcher is stuck on one scan"
        release.set()
        while running.liveness_problem() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running.liveness_problem() is None
    finally:
        release.set()
        running.stop()


@pytest.mark.parametrize("name", ["99-edge-agent.rules", "edge-agent.tmpfiles.conf"])
def test_install_files_exist_and_are_not_empty(name):
    path = UNIT.parent / name
    lines = [x for x in path.read_text().splitlines() if x.strip() and not x.startswith("#")]
    assert lines, f"{name} has no rules"


def test_udev_rules_are_well_formed():
    # Debian 12's udev (252) has no `udevadm verify`; check each rule's shape instead.
    pair = re.compile(r'^[A-Z]+(\{[\w.-]+\})?(==|!=|\+=|:=|=)"[^"]*"$')
    for line in (UNIT.parent / "99-edge-agent.rules").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        for item in line.split(", "):
            assert pair.match(item.strip()), f"bad udev rule part {item!r} in {line!r}"
