"""edge-central's systemd unit and its sd_notify/watchdog protocol, checked with
systemd's own tools and a real notify socket, as the agent's are (tests/test_systemd.py)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from sync.central.worker import EXIT_PART_DIED
from tests.sync.centre_workers import CentreWorker
from tests.sync.conftest import EDGE_CENTRAL
from tests.test_systemd import MAX_EXPOSURE

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edge-central.service"


def installed_unit(tmp_path: Path) -> Path:
    """The unit as installed: ExecStart pointing at this checkout's edge-central."""
    unit = tmp_path / "edge-central.service"
    text = UNIT.read_text().replace("/opt/edge-central/.venv/bin/edge-central", EDGE_CENTRAL)
    unit.write_text(text, encoding="utf-8")
    return unit


def test_unit_passes_systemd_analyze_verify(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "verify", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "edge-central.service" not in result.stderr, result.stderr  # no warnings about it


def test_unit_exposure_score_stays_low(tmp_path):
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = next(x for x in result.stdout.splitlines() if "Overall exposure level" in x)
    assert float(line.split(":")[1].split()[0]) <= MAX_EXPOSURE, line


def listen(path: Path) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(30)
    return listener


def notify_env(address: Path) -> dict[str, str]:
    return {"NOTIFY_SOCKET": str(address), "WATCHDOG_USEC": "600000"}


def test_worker_tells_systemd_ready_alive_and_stopping(tmp_path, broker, postgres_url):
    address = tmp_path / "notify.sock"
    listener = listen(address)
    worker = CentreWorker(tmp_path, "w1", broker.url, postgres_url, env=notify_env(address))
    messages: list[str] = []
    try:
        while sum(m == "WATCHDOG=1" for m in messages) < 3:
            messages.append(listener.recv(4096).decode())
        code = worker.terminate()
        while messages[-1] != "STOPPING=1":
            messages.append(listener.recv(4096).decode())
    finally:
        worker.kill9()
        listener.close()
    assert code == 0
    ready = messages.index("READY=1")
    assert ready < messages.index("WATCHDOG=1")  # fed only once ready
    assert messages[ready - 1] == "STATUS=ingesting"


def test_worker_with_a_dead_thread_tells_systemd_why_and_exits(tmp_path, broker, postgres_url):
    address = tmp_path / "notify.sock"
    listener = listen(address)
    worker = CentreWorker(
        tmp_path, "w1", broker.url, postgres_url, fault="lookups", env=notify_env(address)
    )
    messages: list[str] = []
    try:
        while not messages or not messages[-1].startswith("STATUS=failed"):
            messages.append(listener.recv(4096).decode())
        code = worker.wait_exit()
    finally:
        worker.kill9()
        listener.close()
    assert code == EXIT_PART_DIED
    assert messages[-1] == "STATUS=failed: the lookups thread stopped"
    assert "READY=1" in messages
