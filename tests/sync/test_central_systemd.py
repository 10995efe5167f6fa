"""edge-central's systemd units (a worker, N workers from the template, delivery, the
wallet service) and their sd_notify/watchdog protocol, checked with systemd's own tools
and a real notify socket, as the agent's are (tests/test_systemd.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from sync.central.worker import EXIT_PART_DIED
from tests import systemd_checks
from tests.sync.centre_workers import CentreWorker
from tests.sync.conftest import EDGE_CENTRAL, free_port
from tests.test_systemd import MAX_EXPOSURE

SYSTEMD_DIR = Path(__file__).resolve().parents[2] / "systemd"
WORKER = "edge-central.service"
TEMPLATE = "edge-central@.service"
# Each unit as systemd loads it: the template as one of its instances.
LOADED = {
    WORKER: WORKER,
    TEMPLATE: "edge-central@1.service",
    "edge-central-deliver.service": "edge-central-deliver.service",
    "edge-central-wallet.service": "edge-central-wallet.service",
}
# What every centre unit has alike: how systemd knows it is up and alive, and restarts
# it; its sandbox is the block from ProtectSystem= to UMask=.
ALIKE = ("Type=", "NotifyAccess=", "WatchdogSec=", "Restart=", "RestartSec=", "KillSignal=")


def installed_unit(tmp_path: Path, name: str = WORKER) -> Path:
    """The unit installed in `tmp_path`, as systemd would load it (an instance for the
    template: systemd finds the template beside it)."""
    installed = systemd_checks.installed_unit(
        SYSTEMD_DIR / name, tmp_path, "/opt/edge-central/.venv/bin/edge-central", EDGE_CENTRAL
    )
    return installed.with_name(LOADED[name])


@pytest.mark.parametrize("name", LOADED)
def test_unit_passes_systemd_analyze_verify(tmp_path, name):
    systemd_checks.assert_verifies(installed_unit(tmp_path, name))


@pytest.mark.parametrize("name", LOADED)
def test_unit_exposure_score_stays_low(tmp_path, name):
    assert systemd_checks.exposure(installed_unit(tmp_path, name)) <= MAX_EXPOSURE


def test_every_centre_unit_has_the_same_sandbox_and_watchdog():
    def alike(name: str) -> list[str]:
        lines = (SYSTEMD_DIR / name).read_text().splitlines()
        sandbox = lines[lines.index("ProtectSystem=strict") : lines.index("UMask=0077") + 1]
        return [x for x in lines if x.startswith(ALIKE)] + sandbox

    worker = alike(WORKER)
    assert "WatchdogSec=30" in worker and "PrivateUsers=yes" in worker
    for name in LOADED:
        assert alike(name) == worker, name


def test_template_instances_are_workers_of_their_own_with_their_own_port():
    unit = (SYSTEMD_DIR / TEMPLATE).read_text()
    assert "run --worker-id %H-%i --http-port-offset %i" in unit
    assert "EnvironmentFile=/etc/edge-central/edge-central.env" in unit


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


def test_a_template_instance_serves_health_on_the_env_files_port_plus_its_number(
    tmp_path, broker, postgres_url
):
    port = free_port()
    worker = CentreWorker(
        tmp_path, "host-3", broker.url, postgres_url, "--http-port-offset", "3",
        env={"EDGE_CENTRAL_HTTP_PORT": str(port - 3)},
    )  # fmt: skip
    try:
        worker.wait_ready()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            health = json.load(answer)
        assert answer.status == 200
    finally:
        code = worker.terminate()
    assert health["status"] == "ready"
    assert code == 0


def test_delivery_worker_tells_systemd_ready_alive_and_stopping(tmp_path):
    db = f"sqlite://{tmp_path / 'centre.sqlite3'}"
    command = [EDGE_CENTRAL, "deliver", "--db", db, "--worker-id", "d1", "--threads", "2"]
    messages, code = _notify_messages(tmp_path, command)
    assert code == 0
    ready = messages.index("READY=1")
    assert messages[ready - 1] == "STATUS=delivering"
    assert ready < messages.index("WATCHDOG=1")
    assert messages[-1] == "STOPPING=1"


def test_wallet_service_tells_systemd_ready_alive_and_stopping(tmp_path):
    keys = tmp_path / "wallet"
    made = subprocess.run([EDGE_CENTRAL, "wallet", "keys", str(keys)], capture_output=True)
    assert made.returncode == 0, made.stderr
    (keys / "wallet.toml").write_text('[wallet]\nkeys_dir = "."\n', encoding="utf-8")
    db = f"sqlite://{tmp_path / 'centre.sqlite3'}"
    command = [EDGE_CENTRAL, "wallet", "serve", "--config", str(keys / "wallet.toml"),
               "--db", db, "--port", "0"]  # fmt: skip
    messages, code = _notify_messages(tmp_path, command)
    assert code == 0
    ready = messages.index("READY=1")
    assert messages[ready - 1].startswith("STATUS=serving http://127.0.0.1:")
    assert ready < messages.index("WATCHDOG=1")
    assert messages[-1] == "STOPPING=1"


def _notify_messages(tmp_path: Path, command: list[str]) -> tuple[list[str], int]:
    """What `command` tells systemd until its third watchdog ping, then after SIGTERM;
    and its exit status. It must print `ready` on stdout when it sends READY=1."""
    address = tmp_path / "notify.sock"
    listener = listen(address)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CENTRAL_")}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**env, **notify_env(address)},
    )  # fmt: skip
    messages: list[str] = []
    try:
        while sum(m == "WATCHDOG=1" for m in messages) < 3:
            messages.append(listener.recv(4096).decode())
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        while messages[-1] != "STOPPING=1":
            messages.append(listener.recv(4096).decode())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        listener.close()
    return messages, code
