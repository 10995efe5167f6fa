"""Telling systemd (Type=notify) that the worker is ready, alive and stopping, through
libsystemd's own sd_notify (cysystemd). Outside systemd (no NOTIFY_SOCKET) every call
is a no-op."""

from __future__ import annotations

import os
from collections.abc import Mapping


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self.watchdog_interval: float | None = None
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval = int(usec) / 1_000_000

    def ready(self, status: str) -> None:
        self._send("STATUS", status)
        self._send("READY")

    def status(self, status: str) -> None:
        self._send("STATUS", status)

    def watchdog(self) -> None:
        self._send("WATCHDOG")

    def stopping(self) -> None:
        self._send("STOPPING")

    def _send(self, name: str, value: str | None = None) -> None:
        if not self.enabled:
            return
        from cysystemd.daemon import Notification, notify

        # return_exceptions: a systemd that is gone (shutting down) is nothing to act on.
        notify(Notification[name], value, return_exceptions=True)
