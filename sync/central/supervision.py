"""The parts of a worker (ingest, look-ups, the MQTT network thread) and whether each
is still running, and `supervise`, the loop every long-running `edge-central` command
(run, deliver, wallet serve) ends in: READY=1 when all run, systemd's watchdog fed while
none is stalled, exit 70 when one dies. A worker with a dead part must not stay in the
shared subscription: the broker would keep dealing it messages nobody commits or acks.

Threads are watched by polling `is_alive()` (the worker's main loop does it a few times
a second), so a part that dies of any cause, in our code or in a library's, is seen the
same way; the thread's own traceback goes to the log through `threading.excepthook`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sync.central.systemd import Notifier

log = logging.getLogger(__name__)

# EX_SOFTWARE (sysexits.h): an internal error, as opposed to 1, a bad command or config.
EXIT_PART_DIED = 70
# How often the main thread looks at the parts: how soon a dead one is noticed.
CHECK_SECONDS = 0.1
# While not ready, say what the process waits for this often.
WAITING_LOG_SECONDS = 10.0

# A part that has not turned its loop for this long is reported stalled (and the
# systemd watchdog stops being fed). A batch commit takes well under a second; a
# database outage is not a stall: the reconnect loop turns too.
STALL_SECONDS = 30.0


@dataclass(frozen=True)
class PartState:
    name: str
    running: bool
    ready: bool
    detail: str


class Part:
    """One named thread, with a readiness flag and a heartbeat its loop beats."""

    def __init__(self, name: str, beats: bool = True) -> None:
        self.name = name
        self.beats = beats  # False: a library's thread, with no loop of ours to beat
        self.thread: threading.Thread | None = None
        self.ready = threading.Event()
        self.detail = "starting" if beats else "running"
        self._beat = time.monotonic()

    def beat(self, detail: str = "running") -> None:
        self._beat = time.monotonic()
        self.detail = detail

    def unready(self, detail: str) -> None:
        """Running, but unable to do its job (say why) until `beat` and `ready.set()`."""
        self.ready.clear()
        self.beat(detail)

    def state(self, now: float) -> PartState:
        if self.thread is None:
            return PartState(self.name, False, False, "not started")
        if not self.thread.is_alive():
            return PartState(self.name, False, False, "stopped")
        silent = now - self._beat
        if self.beats and silent > STALL_SECONDS:
            return PartState(self.name, True, False, f"stalled for {silent:.0f}s")
        return PartState(self.name, True, self.ready.is_set(), self.detail)


class Parts:
    """Every part of one worker; `dead()` names the first that stopped unasked."""

    def __init__(self, *parts: Part) -> None:
        self._parts = {part.name: part for part in parts}
        self.stopping = False

    def __getitem__(self, name: str) -> Part:
        return self._parts[name]

    def watch(self, name: str, thread: threading.Thread) -> None:
        self._parts[name].thread = thread

    def states(self) -> list[PartState]:
        now = time.monotonic()
        return [part.state(now) for part in self._parts.values()]

    def dead(self) -> str | None:
        """A sentence naming a part whose thread has stopped, unless we are stopping: the
        first to die when several have (one thread's death can take another with it:
        once paho's network thread is gone, paho runs its callbacks, and their failure,
        in whichever thread publishes next)."""
        if self.stopping:
            return None
        stopped = [
            part
            for part in self._parts.values()
            if part.state(time.monotonic()).detail == "stopped"
        ]
        if not stopped:
            return None
        first = min(stopped, key=lambda part: _died_at(part.thread))
        return f"the {first.name} thread stopped"

    def stalled(self) -> list[str]:
        return [s.name for s in self.states() if s.detail.startswith("stalled")]

    def all_ready(self) -> bool:
        return all(state.ready for state in self.states())

    def waiting_for(self) -> list[str]:
        return [f"{s.name} ({s.detail})" for s in self.states() if not s.ready]


def supervise(
    parts: Parts,
    stop: threading.Event,
    announce_ready: Callable[[], None],
    notifier: Notifier,
    ready_status: str,
    on_death: str = "exiting",
) -> int:
    """Watch started `parts` until `stop` is set (0, after STOPPING=1) or one dies
    (EXIT_PART_DIED, after STATUS=failed: ...). READY=1 and `announce_ready` come once
    every part is ready; systemd's watchdog is fed only while none is stalled. The
    caller then stops its parts (or, on a death, does `on_death`, which the log says)."""
    logged = time.monotonic()
    while not parts.all_ready():
        if (code := _check(parts, notifier, on_death)) is not None:
            return code
        if stop.wait(CHECK_SECONDS):
            notifier.stopping()
            return 0
        if time.monotonic() - logged > WAITING_LOG_SECONDS:
            logged = time.monotonic()
            waiting = ", ".join(parts.waiting_for())
            log.warning("not ready yet, waiting for: %s", waiting)
            notifier.status(f"waiting for: {waiting}")
    announce_ready()
    notifier.ready(ready_status)
    fed = 0.0
    while not stop.wait(CHECK_SECONDS):
        if (code := _check(parts, notifier, on_death)) is not None:
            return code
        due = notifier.watchdog_interval
        if due is not None and time.monotonic() - fed > due / 3 and not parts.stalled():
            notifier.watchdog()
            fed = time.monotonic()
    notifier.stopping()
    return 0


def _check(parts: Parts, notifier: Notifier, on_death: str) -> int | None:
    dead = parts.dead()
    if dead is None:
        return None
    log.critical("%s: %s", dead, on_death)
    notifier.status(f"failed: {dead}")
    return EXIT_PART_DIED


def log_thread_deaths() -> None:
    """From now on a thread's fatal exception goes to the log, timestamped, with its
    traceback (call it before starting the parts)."""
    threading.excepthook = _log_thread_death


# When each thread that died of an exception did so (by thread ident), so the first of
# several deaths is the one reported.
_deaths: dict[int, float] = {}


def _died_at(thread: threading.Thread | None) -> float:
    ident = thread.ident if thread is not None else None
    return _deaths.get(ident, float("inf")) if ident is not None else float("inf")


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    if args.thread is not None and args.thread.ident is not None:
        _deaths[args.thread.ident] = time.monotonic()
    name = args.thread.name if args.thread is not None else "a thread"
    exc_info = (args.exc_type, args.exc_value, args.exc_traceback)
    log.critical("%s died", name, exc_info=exc_info)  # type: ignore[arg-type]
