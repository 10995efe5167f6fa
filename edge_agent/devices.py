"""The store devices the running agent drives, for status screens and health checks.

A printer out of paper or a scanner unplugged is a degraded till, not a dead agent:
these checks never make /healthz fail, they say what to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_agent.printing import PrintQueue
from hardware.scanners import ScanSource


@dataclass
class DeviceRegistry:
    scanners: Sequence[ScanSource]
    print_queue: PrintQueue | None

    def snapshot(self) -> dict[str, Any]:
        printers = self.print_queue.status() if self.print_queue is not None else []
        return {
            "scanners": [scanner.status() for scanner in self.scanners],
            "printers": printers,
            "print_worker": "running"
            if self.print_queue is not None and self.print_queue.alive
            else "stopped",
        }

    def health_checks(self) -> dict[str, str]:
        """check name -> "ok" or "degraded: <what to do>"."""
        checks: dict[str, str] = {}
        for scanner in self.scanners:
            status = scanner.status()
            connected = status.get("connected", True)
            checks[f"scanner:{scanner.id}"] = (
                "ok" if connected else f"degraded: {status.get('state', 'disconnected')}"
            )
        if self.print_queue is None:
            return checks
        if self.printers_configured and not self.print_queue.alive:
            checks["print_worker"] = "degraded: stopped, receipts are queued but not printed"
        for entry in self.print_queue.status():
            status = entry.get("status") or {}
            problem = status.get("problem")
            waiting = entry.get("pending_jobs", 0)
            unconfirmed = entry.get("unconfirmed_jobs", 0)
            if problem:
                verdict = f"degraded: {problem} ({waiting} waiting)"
            elif unconfirmed:
                verdict = f"degraded: {unconfirmed} receipt(s) may not have printed, check"
            else:
                verdict = "ok"
            checks[f"printer:{entry['id']}"] = verdict
        return checks

    @property
    def printers_configured(self) -> bool:
        return self.print_queue is not None and bool(self.print_queue.printers)
