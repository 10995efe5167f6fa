"""Fixtures for the sync tests: a real Mosquitto per test on a free loopback port, an
edge-central worker, and an agent context wired to the broker."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.ports import free_server_port as free_port
from edge_agent.config import Config, SyncSettings
from edge_agent.context import AgentContext, open_agent
from edge_agent.outbox import append_event
from sync.central.service import CentralService
from sync.service import SyncService
from tests.conftest import make_config

MOSQUITTO = "/usr/sbin/mosquitto"
# The broker settings the centre ships with: every test broker runs them, plus its own
# loopback listener and whatever a test adds after them (later lines win).
BROKER_CONF = Path(__file__).resolve().parents[2] / "systemd" / "mosquitto-edge-central.conf"
EDGE_CENTRAL = str(Path(sys.executable).with_name("edge-central"))
# Generous: a loaded 2-core machine can be slow, and a poll returns as soon as it holds.
WAIT_SECONDS = 60.0


def wait_for(check: Callable[[], object], what: str, timeout: float = WAIT_SECONDS) -> object:
    """Poll `check` until it returns something truthy; fail naming `what` if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


class Broker:
    """A Mosquitto process of our own; kill() is kill -9, start() brings it back on the
    same port with the same persistence directory."""

    def __init__(self, workdir: Path, extra: str = "") -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {workdir}/\n"
            f"log_dest file {workdir}/mosquitto.log\n"
            # Stay root in the test: dropping to the mosquitto user could not write tmp.
            "user root\n" + BROKER_CONF.read_text(encoding="utf-8") + "\n" + extra,
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for(self._accepting, f"mosquitto on port {self.port}", timeout=20)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def _accepting(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise AssertionError(f"mosquitto exited: {err}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    brokers: list[Broker] = []

    def make(extra: str = "", name: str = "broker") -> Broker:
        broker = Broker(tmp_path / name, extra)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.kill()


@pytest.fixture
def broker(broker_factory: Callable[..., Broker]) -> Broker:
    return broker_factory()


def sync_config(
    data_dir: Path, broker_url: str, store_id: str = "store-a", **sync: object
) -> Config:
    base = make_config(data_dir)
    return base.model_copy(
        update={
            "store": base.store.model_copy(update={"id": store_id}),
            "sync": SyncSettings(broker_url=broker_url, heartbeat_seconds=5, **sync),
        }
    )


@pytest.fixture
def store_agent(tmp_path: Path, broker: Broker) -> Iterator[AgentContext]:
    ctx = open_agent(sync_config(tmp_path / "store", broker.url))
    yield ctx
    ctx.store.close()


@pytest.fixture
def central_factory(tmp_path: Path) -> Iterator[Callable[..., CentralService]]:
    services: list[CentralService] = []

    def make(
        broker_url: str, db_url: str | None = None, worker_id: str = "w1", **options: Any
    ) -> CentralService:
        service = CentralService(
            broker_url,
            db_url or f"sqlite://{tmp_path / 'central.sqlite3'}",
            worker_id=worker_id,
            **options,
        )
        service.start()
        wait_for(service.link.connected.is_set, "edge-central connected")
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


@pytest.fixture
def sync_factory() -> Iterator[Callable[..., SyncService]]:
    services: list[SyncService] = []

    def make(ctx: AgentContext, ack_timeout: float = 2.0) -> SyncService:
        service = SyncService(ctx, ack_timeout_seconds=ack_timeout)
        service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        service.stop()


def add_events(ctx: AgentContext, count: int, start: int = 0) -> None:
    """Commit `count` scan events, numbered in their data, as the till would."""
    for n in range(start, start + count):
        with ctx.store.transaction() as db:
            append_event(db, ctx.origin, "scan.recorded", None, scan_data(n), ctx.clock())


def scan_data(n: int, **extra: object) -> dict[str, object]:
    """A valid `scan.recorded` payload carrying `n` as the scanned value."""
    data = {"source": "lane-1", "symbology": "]E0", "kind": "gtin", "outcome": "product",
            "value": str(n), "scanned_at": "2026-11-29T10:00:00.000000Z"}  # fmt: skip
    return {**data, **extra}


def backlog(ctx: AgentContext) -> int:
    return ctx.store.db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]


def central_rows(db_path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(sql).fetchall()


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
