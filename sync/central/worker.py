"""Running one worker to the end: `ready` only when every part runs, systemd's
watchdog fed only while none is stalled, and out at once, non-zero, when one dies.

A worker with a dead part leaves the shared subscription before anything else (the
broker then deals its share to the others) and exits with EXIT_PART_DIED, so its
supervisor (systemd's Restart=, a container runtime) starts a replacement. Nothing
is lost: what it had not committed was never acked, and the stores send it again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sync.central.service import CentralService
from sync.central.supervision import EXIT_PART_DIED, log_thread_deaths, supervise
from sync.central.systemd import Notifier

__all__ = ["EXIT_PART_DIED", "run_worker"]


def run_worker(
    service: CentralService,
    stop: threading.Event,
    announce_ready: Callable[[], None],
    notifier: Notifier | None = None,
) -> int:
    """Start `service`, run it until `stop` is set or a part dies; the exit status."""
    notifier = notifier or Notifier()
    log_thread_deaths()
    service.start()
    code = supervise(
        service.parts, stop, announce_ready, notifier, "ingesting",
        on_death="leaving the shared subscription and exiting",
    )  # fmt: skip
    if code == EXIT_PART_DIED:
        service.abort()  # out of the shared subscription first: see the docstring
    else:
        service.stop()
    return code
