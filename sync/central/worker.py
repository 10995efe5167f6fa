"""Running one worker to the end: `ready` only when every part runs, systemd's
watchdog fed only while none is stalled, and out at once, non-zero, when one dies.

A worker with a dead part leaves the shared subscription before anything else (the
broker then deals its share to the others) and exits with EXIT_PART_DIED, so its
supervisor (systemd's Restart=, a container runtime) starts a replacement. Nothing
is lost: what it had not committed was never acked, and the stores send it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sync.central.service import CentralService
from sync.central.systemd import Notifier

log = logging.getLogger(__name__)

# EX_SOFTWARE (sysexits.h): an internal error, as opposed to 1, a bad command or config.
EXIT_PART_DIED = 70
# How often the main thread looks at the parts: how soon a dead one is noticed.
CHECK_SECONDS = 0.1
# While not ready, say what the worker waits for this often.
WAITING_LOG_SECONDS = 10.0


def run_worker(
    service: CentralService,
    stop: threading.Event,
    announce_ready: Callable[[], None],
    notifier: Notifier | None = None,
) -> int:
    """Start `service`, run it until `stop` is set or a part dies; the exit status."""
    notifier = notifier or Notifier()
    threading.excepthook = _log_thread_death
    service.start()
    logged = time.monotonic()
    while not service.parts.all_ready():
        if (code := _check(service, notifier)) is not None:
            return code
        if stop.wait(CHECK_SECONDS):
            return _stop(service, notifier)
        if time.monotonic() - logged > WAITING_LOG_SECONDS:
            logged = time.monotonic()
            waiting = ", ".join(service.parts.waiting_for())
            log.warning("not ready yet, waiting for: %s", waiting)
            notifier.status(f"waiting for: {waiting}")
    announce_ready()
    notifier.ready("ingesting")
    fed = 0.0
    while not stop.wait(CHECK_SECONDS):
        if (code := _check(service, notifier)) is not None:
            return code
        due = notifier.watchdog_interval
        if due is not None and time.monotonic() - fed > due / 3 and not service.parts.stalled():
            notifier.watchdog()
            fed = time.monotonic()
    return _stop(service, notifier)


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    """A thread's fatal exception in the log, timestamped, with its traceback."""
    name = args.thread.name if args.thread is not None else "a thread"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    log.critical("%s died", name, exc_info=exc_info)  # type: ignore[arg-type]


def _check(service: CentralService, notifier: Notifier) -> int | None:
    dead = service.parts.dead()
    if dead is None:
        return None
    log.critical("%s: leaving the shared subscription and exiting", dead)
    notifier.status(f"failed: {dead}")
    service.abort()
    return EXIT_PART_DIED


def _stop(service: CentralService, notifier: Notifier) -> int:
    notifier.stopping()
    service.stop()
    return 0
