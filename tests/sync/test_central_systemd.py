"""edge-central's systemd unit and its sd_notify/watchdog protocol, checked with
systemd's own tools and a real notify socket, as the agent's are (tests/test_systemd.py)."""

from __future__ import annotations

import socket
from pathlib import Path

from sync.central.worker import EXIT_PART_DIED
from tests import systemd_checks
from tests.sync.centre_workers import CentreWorker
from tests.sync.conftest import EDGE_CENTRAL
from tests.test_systemd import MAX_EXPOSURE

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "edge-central.service"


def installed_unit(tmp_path: Path) -> Path:
    return systemd_checks.installed_unit(
        UNIT, tmp_path, "/opt/edge-central/.venv/bin/edge-central", EDGE_CENTRAL
    )


def test_unit_passes_systemd_analyze_verify(tmp_path):
    systemd_checks.assert_verifies(installed_unit(tmp_path))


def test_unit_exposure_score_stays_low(tmp_path):
    assert systemd_checks.exposure(installed_unit(tmp_path)) <= MAX_EXPOSURE


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
