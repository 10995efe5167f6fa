"""`edge-agent doctor`: everything an ops person checks on a device, in one table.

Each check says ok, warn or fail with a detail a person can act on; the command exits
non-zero when any check fails. Checks never change the device (read-only database
access, connect-and-close probes).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlite_utils import Database

from edge_agent import clock_skew
from edge_agent.config import Config, load_config
from edge_agent.errors import KNOWN_ERRORS, ConfigError
from edge_agent.migrations import MIGRATIONS
from edge_agent.outbox import outbox_stats
from hardware.printers import open_printer
from hardware.scanners import open_scanner
from hardware.scanners.tcp import TcpScanner
from sync.protocol.clock import to_iso

Level = Literal["ok", "warn", "fail"]

# Below this the next busy day's events and receipts may not fit; SQLite then refuses writes.
DISK_FAIL_BYTES = 200 * 2**20
DISK_WARN_BYTES = 1 * 2**30
# The centre should hear of a sale within minutes; an hour means sync is not working.
OUTBOX_WARN_SECONDS = 3600
OUTBOX_FAIL_SECONDS = 24 * 3600
PROBE_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str


def run_checks(config_path: Path | None) -> Iterator[Check]:
    """Yield each check as it completes (the CLI prints them as they come)."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        yield Check("config", "fail", exc.message)
        return
    yield Check("config", "ok", str(config_path or "built-in defaults"))
    for check in (_database, _disk, _scanners, _printers, _broker, _clock, _outbox):
        try:
            yield from check(config)
        except KNOWN_ERRORS as exc:
            yield Check(check.__name__.strip("_"), "fail", exc.message)
        except (sqlite3.Error, OSError) as exc:
            yield Check(check.__name__.strip("_"), "fail", str(exc))


def _read_only(config: Config) -> sqlite3.Connection | None:
    path = config.paths.database
    if not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)


def _database(config: Config) -> Iterator[Check]:
    path = config.paths.database
    conn = _read_only(config)
    if conn is None:
        yield Check("database", "warn", f"{path} does not exist yet (created on first start)")
        return
    try:
        result = conn.execute("PRAGMA quick_check").fetchone()[0]
        version = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()[0]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        yield Check("database", "fail", f"{path}: {exc}")
        return
    finally:
        conn.close()
    size = path.stat().st_size / 2**20
    latest = MIGRATIONS[-1].version
    if result != "ok":
        yield Check("database", "fail", f"{path}: integrity check says {result}")
    elif version != latest:
        yield Check("database", "warn", f"schema {version}, this agent migrates it to {latest}")
    else:
        yield Check("database", "ok", f"{path}: intact, schema {version}, {mode}, {size:.1f} MiB")


def _disk(config: Config) -> Iterator[Check]:
    directory = config.paths.data_dir
    probe = directory if directory.exists() else directory.parent
    while not probe.exists():
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free = usage.free / 2**20
    detail = f"{free:,.0f} MiB free of {usage.total / 2**30:,.1f} GiB on {probe}"
    if usage.free < DISK_FAIL_BYTES:
        yield Check("disk", "fail", detail + ": free space now, writes will be refused")
    elif usage.free < DISK_WARN_BYTES:
        yield Check("disk", "warn", detail)
    else:
        yield Check("disk", "ok", detail)


def _scanners(config: Config) -> Iterator[Check]:
    if not config.scanners:
        yield Check("scanners", "warn", "no scanner configured")
    for settings in config.scanners:
        name = f"scanner {settings.id}"
        scanner = open_scanner(settings.id, settings.url)
        if isinstance(scanner, TcpScanner):
            host, port = scanner.address
            yield _tcp_listener_check(name, host, port)
            continue
        device = getattr(getattr(scanner, "options", None), "port", None) or getattr(
            getattr(scanner, "options", None), "path", None
        )
        if not device:
            yield Check(name, "warn", f"{settings.url}: found by name when the agent starts")
        elif not os.path.exists(device):
            yield Check(name, "fail", f"{device} is not there: is the scanner plugged in?")
        elif not os.access(device, os.R_OK):
            yield Check(name, "fail", f"{device} is not readable (groups dialout/input?)")
        else:
            yield Check(name, "ok", f"{device} present and readable")


def _printers(config: Config) -> Iterator[Check]:
    for settings in config.printers:
        name = f"printer {settings.id}"
        device = open_printer(
            settings.id,
            settings.url,
            settings.profile,
            settings.paper_width_mm,
            base_dir=config.paths.data_dir.parent,
        )
        try:
            status = device.query_status()  # DLE EOT where the printer answers
        finally:
            device.close()
        if status.problem:
            yield Check(name, "fail", f"{settings.url}: {status.problem}")
        else:
            yield Check(name, "ok", f"{settings.url}: ready, paper {status.paper}")


def _broker(config: Config) -> Iterator[Check]:
    url = config.sync.broker_url
    if not url:
        yield Check("broker", "warn", "no broker configured: the store runs offline")
        return
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    yield _connect_check("broker", parts.hostname or "", port, tls=tls)


def _clock(config: Config) -> Iterator[Check]:
    conn = _read_only(config)
    if conn is None:
        return
    try:
        skew = clock_skew.load(Database(conn))
    finally:
        conn.close()
    if skew is None:
        detail = "skew not measured yet: the centre has not acknowledged an event"
        yield Check("clock", "warn" if config.sync.broker_url else "ok", detail)
        return
    size = abs(skew.seconds)
    side = "ahead of" if skew.seconds > 0 else "behind"
    detail = f"{size:.1f}s {side} the centre (measured {to_iso(skew.measured_at)})"
    level: Level = "ok"
    if size > clock_skew.FAIL_SECONDS:
        level = "fail"
        detail += ": rotating pass codes will be refused; fix NTP"
    elif size > clock_skew.WARN_SECONDS:
        level = "warn"
    yield Check("clock", level, detail)


def _outbox(config: Config) -> Iterator[Check]:
    conn = _read_only(config)
    if conn is None:
        return
    try:
        stats = outbox_stats(Database(conn))
    finally:
        conn.close()
    age = stats.oldest_age_seconds or 0.0
    detail = f"{stats.depth} events waiting, oldest {age / 60:,.0f} min"
    level: Level = "ok"
    if age > OUTBOX_FAIL_SECONDS:
        level = "fail"
    elif age > OUTBOX_WARN_SECONDS:
        level = "warn"
    yield Check("outbox", level, detail)


def _tcp_listener_check(name: str, host: str, port: int) -> Check:
    """A listener we own: ok if the agent listens there or the port is free to take."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS):
            return Check(name, "ok", f"{host}:{port} answering (agent running)")
    except OSError:
        pass
    try:
        with socket.socket() as sock:
            sock.bind((host, port))
        return Check(name, "ok", f"{host}:{port} free for the agent")
    except OSError as exc:
        return Check(name, "fail", f"{host}:{port} cannot be used: {exc.strerror}")


def _connect_check(name: str, host: str, port: int, tls: bool = False) -> Check:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS) as sock:
            if tls:
                with ssl.create_default_context().wrap_socket(sock, server_hostname=host):
                    return Check(name, "ok", f"{host}:{port} reachable, TLS handshake ok")
        return Check(name, "ok", f"{host}:{port} reachable")
    except ssl.SSLError as exc:
        return Check(name, "fail", f"{host}:{port} TLS failed: {exc.reason}")
    except OSError as exc:
        return Check(name, "fail", f"{host}:{port} unreachable: {exc.strerror or exc}")
