"""The store devices the running agent drives, for status screens and health checks.

A printer out of paper or a scanner unplugged is a degraded till, not a dead agent:
these checks never make /healthz fail, they say what to fix. The status values are
typed (one shape for every scanner kind, one for every printer kind), so the API can
document them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent.printing import PrintJob, PrintQueue
from hardware.scanners import ScanSource


@dataclass(frozen=True)
class ScannerState:
    id: str
    kind: str  # tcp, serial, hid
    connected: bool
    state: str  # connected, connecting, disconnected, stopped, listening
    device: str  # port, input device or listening address
    reconnects: int
    last_error: str | None
    scans_read: int
    card_data_dropped: int  # reads dropped because they looked like payment card data
    noise_ignored: int


@dataclass(frozen=True)
class PrinterState:
    id: str
    kind: str  # tcp, serial, file, usb, preview
    target: str
    checked: bool  # False until the printer was first asked for its status
    reachable: bool | None
    ready: bool | None
    paper: str  # ok, low, out, unknown
    cover_open: bool | None
    problem: str | None  # what to do, for the cashier
    pending_jobs: int
    unconfirmed_jobs: int  # may or may not be on paper: check, then reprint


@dataclass(frozen=True)
class DevicesStatus:
    scanners: tuple[ScannerState, ...]
    printers: tuple[PrinterState, ...]
    print_worker: str  # running, stopped
    checks: dict[str, str]  # as in /healthz


@dataclass(frozen=True)
class PrintJobs:
    printer_id: str
    jobs: tuple[PrintJob, ...]


@dataclass
class DeviceRegistry:
    scanners: Sequence[ScanSource]
    print_queue: PrintQueue | None

    def snapshot(self) -> DevicesStatus:
        running = self.print_queue is not None and self.print_queue.alive
        return DevicesStatus(
            scanners=tuple(scanner_state(s.status()) for s in self.scanners),
            printers=self._printer_states(),
            print_worker="running" if running else "stopped",
            checks=self.health_checks(),
        )

    def health_checks(self) -> dict[str, str]:
        """check name -> "ok" or "degraded: <what to do>"."""
        checks: dict[str, str] = {}
        for scanner in self.scanners:
            state = scanner_state(scanner.status())
            checks[f"scanner:{state.id}"] = "ok" if state.connected else f"degraded: {state.state}"
        if self.print_queue is None:
            return checks
        if self.print_queue.printers and not self.print_queue.alive:
            checks["print_worker"] = "degraded: stopped, receipts are queued but not printed"
        for printer in self._printer_states():
            if printer.problem:
                verdict = f"degraded: {printer.problem} ({printer.pending_jobs} waiting)"
            elif printer.unconfirmed_jobs:
                verdict = f"degraded: {printer.unconfirmed_jobs} receipt(s) may not have printed"
            else:
                verdict = "ok"
            checks[f"printer:{printer.id}"] = verdict
        return checks

    def _printer_states(self) -> tuple[PrinterState, ...]:
        if self.print_queue is None:
            return ()
        return tuple(printer_state(entry) for entry in self.print_queue.status())


def scanner_state(status: Mapping[str, Any]) -> ScannerState:
    """One shape from any backend's `status()` dict."""
    connected = bool(status.get("connected", False))
    return ScannerState(
        id=str(status["id"]),
        kind=str(status.get("kind", "unknown")),
        connected=connected,
        state=str(status.get("state") or ("listening" if connected else "stopped")),
        device=str(status.get("port") or status.get("device") or status.get("address") or ""),
        reconnects=int(status.get("reconnects", 0)),
        last_error=status.get("last_error"),
        scans_read=int(status.get("scans_read", 0)),
        card_data_dropped=int(status.get("card_data_dropped", 0)),
        noise_ignored=int(status.get("noise_ignored", 0)),
    )


def printer_state(entry: Mapping[str, Any]) -> PrinterState:
    status = entry.get("status") or {}
    return PrinterState(
        id=str(entry["id"]),
        kind=str(entry["kind"]),
        target=str(entry["target"]),
        checked=bool(status),
        reachable=status.get("reachable"),
        ready=status.get("ready"),
        paper=str(status.get("paper", "unknown")),
        cover_open=status.get("cover_open"),
        problem=status.get("problem"),
        pending_jobs=int(entry.get("pending_jobs", 0)),
        unconfirmed_jobs=int(entry.get("unconfirmed_jobs", 0)),
    )
