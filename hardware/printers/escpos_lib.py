"""python-escpos, imported once with its side effects contained.

On import it calls `logging.basicConfig()` (which would take over the agent's logging),
writes a capabilities pickle to a fresh `mkdtemp()` directory per process (so /tmp fills
up over years of restarts), and here and there `print()`s to stdout. This module is the
only place that imports it: the pickle goes to one reused directory, the root logger is
put back as it was, and its import-time prints are swallowed.

After import, the calls we make (text, set, native QR, cut, and the backends' open,
_raw, _read, close) print nothing; image and software-barcode printing do, so they
are not used. Redirecting stdout around device calls is not an option: it is
process-wide, and would swallow what other threads print.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path

PICKLE_DIR_ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def _pickle_dir() -> str:
    # One directory reused by every start, owned by this user (not a new one each time).
    base = os.environ.get("XDG_CACHE_HOME") or str(Path(tempfile.gettempdir()))
    path = Path(base) / f"edge-agent-escpos-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)


def _import_escpos() -> None:
    pickle_dir = os.environ.setdefault(PICKLE_DIR_ENV, _pickle_dir())
    # It writes its pickle in place: the file is opened (empty) before its YAML load
    # (0.2-0.4 s here), and filled after. Another process importing meanwhile read the
    # empty file and failed (EOFError; seen with four test processes starting at once),
    # and one killed meanwhile left a file every later start failed on. So: one import
    # at a time per directory, and a pickle that does not load is removed first, to be
    # built again.
    with _one_import_at_a_time(pickle_dir):
        _drop_unreadable_pickles(pickle_dir)
        _import_contained(pickle_dir)


@contextlib.contextmanager
def _one_import_at_a_time(pickle_dir: str) -> Iterator[None]:
    with open(os.path.join(pickle_dir, ".import.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _drop_unreadable_pickles(pickle_dir: str) -> None:
    for cached in Path(pickle_dir).glob("*.capabilities.pickle"):
        try:
            with cached.open("rb") as stream:
                pickle.load(stream)
        except Exception:  # truncated or garbled: whatever unpickling raises
            cached.unlink(missing_ok=True)


def _import_contained(pickle_dir: str) -> None:
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    level_before = root.level
    # It evaluates `environ.get(..., mkdtemp())`, making a directory even when the
    # variable is set; hand it ours for the length of the import.
    real_mkdtemp = tempfile.mkdtemp
    tempfile.mkdtemp = lambda *args, **kwargs: pickle_dir  # type: ignore[assignment]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import escpos.capabilities  # noqa: F401  (runs the side effects, once)
    finally:
        tempfile.mkdtemp = real_mkdtemp
    for handler in root.handlers[:]:
        if handler not in handlers_before:
            root.removeHandler(handler)
    root.setLevel(level_before)


_import_escpos()

from escpos import capabilities, printer  # noqa: E402
from escpos.exceptions import Error as EscposError  # noqa: E402
from escpos.printer import file as _file  # noqa: E402
from escpos.printer import network as _network  # noqa: E402
from escpos.printer import serial as _serial  # noqa: E402
from escpos.printer import usb as _usb  # noqa: E402

# The backends log "printer enabled" / "closing connection" at INFO through the root
# logger, on every connection: with a status poll and one connection per job that is a
# journald line every few seconds. A named logger has the same info/error methods, so
# their records carry a name we can quieten without touching the root logger.
ESCPOS_LOGGER = "hardware.printers.escpos"
for _module in (_file, _network, _serial, _usb):
    _module.logging = logging.getLogger(ESCPOS_LOGGER)  # type: ignore[assignment]
logging.getLogger(ESCPOS_LOGGER).setLevel(logging.WARNING)

__all__ = ["EscposError", "capabilities", "known_profiles", "printer"]


def known_profiles() -> list[str]:
    return sorted(capabilities.CAPABILITIES["profiles"])
