"""The print queue: receipts persisted in SQLite and sent by one worker per printer.

A job is rendered to ESC/POS bytes once, stored, and only then handed to a printer, so a
printer that is off, out of paper or unplugged loses nothing: the job waits and goes out
when the printer says it is ready (DLE EOT where it answers).

Exactly once: a job is marked `sending` (committed) before its first byte leaves and
`printed` as soon as the printer has taken every byte (and, where it reports status,
answered after them). A link that breaks mid-send, or an agent that dies between those
two commits, leaves the job `unconfirmed`: it may be on paper, so it is never re-sent by
itself; the cashier sees it and chooses "reprint". Everything else is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from edge_agent.context import AgentContext
from edge_agent.errors import EdgeAgentError, NotFound
from hardware.printers import Printer, PrinterUnavailable, open_printer
from hardware.receipts import Receipt, render_receipt
from sync.protocol.clock import iso_now

log = logging.getLogger(__name__)
# How long a waiting job waits before the printer is asked again: a cashier changing a
# roll takes longer; a printer that is back should not sit idle for long.
RETRY_INTERVAL_SECONDS = 2.0
STOP_TIMEOUT_SECONDS = 10
# An idle printer is asked for its status this often, so /api/v1/devices and /healthz
# show "paper out" before the next receipt is due, not after.
STATUS_POLL_SECONDS = 30.0
# An idle printer's worker also looks for jobs this often: a job queued by another
# process (`edge-agent printer sample`, a second agent on the same store) has no wake-up.
JOB_POLL_SECONDS = 2.0
# Printed jobs are kept this long for "reprint last" and support, then removed (they
# may hold a first name on a pickup slip).
PRINTED_RETENTION_DAYS = 7
_RECEIPT_KINDS = {
    "ReturnReceipt": "return_receipt",
    "PickupSlip": "pickup_slip",
    "ShoppingList": "shopping_list",
    "Coupon": "coupon",
    "ReturnSlip": "return_slip",
}


class UnknownPrinter(NotFound):
    code = "printer_not_found"


class NothingToReprint(NotFound):
    code = "nothing_to_reprint"


class PrintRefused(EdgeAgentError):
    code = "print_refused"
    http_status = 400


@dataclass(frozen=True)
class PrintJob:
    id: int
    printer_id: str
    kind: str
    reference: str | None
    state: str
    attempts: int
    last_error: str | None
    created_at: str
    printed_at: str | None
    reprint_of: int | None


_JOB_COLUMNS = (
    "id, printer_id, kind, reference, state, attempts, last_error, created_at, printed_at,"
    " reprint_of"
)


@dataclass(frozen=True)
class QueuedReceiptPrinter:
    """The `ReceiptPrinter` the use cases get: one printer of a print queue."""

    print_queue: PrintQueue
    printer_id: str

    def queue(self, receipt: Receipt) -> int:
        return self.print_queue.enqueue_receipt(self.printer_id, receipt).id

    def wake(self) -> None:
        self.print_queue.wake(self.printer_id)


def with_receipt_printer(ctx: AgentContext, print_queue: PrintQueue) -> AgentContext:
    """`ctx` printing receipts on the first configured printer (the till's own)."""
    if not print_queue.printers:
        return ctx
    printer = QueuedReceiptPrinter(print_queue, next(iter(print_queue.printers)))
    return replace(ctx, receipt_printer=printer)


class PrintQueue:
    def __init__(
        self,
        ctx: AgentContext,
        printers: Mapping[str, Printer] | None = None,
        retry_interval: float = RETRY_INTERVAL_SECONDS,
    ) -> None:
        self._ctx = ctx
        self._settings = {p.id: p for p in ctx.config.printers}
        self.printers: dict[str, Printer] = (
            dict(printers)
            if printers is not None
            else {
                s.id: open_printer(
                    s.id,
                    s.url,
                    s.profile,
                    s.paper_width_mm,
                    base_dir=ctx.config.paths.data_dir.parent,
                )
                for s in ctx.config.printers
            }
        )
        self._retry_interval = retry_interval
        self._wake = {pid: threading.Event() for pid in self.printers}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- queueing ---------------------------------------------------------------------

    def enqueue_receipt(self, printer_id: str, receipt: Receipt) -> PrintJob:
        """Render `receipt` for the printer's paper and profile and queue it."""
        settings = self._printer_settings(printer_id)
        payload = render_receipt(receipt, settings.profile, settings.paper_width_mm)
        kind = _RECEIPT_KINDS[type(receipt).__name__]
        return self.enqueue(printer_id, kind, payload, _reference(receipt))

    def enqueue(
        self,
        printer_id: str,
        kind: str,
        payload: bytes,
        reference: str | None = None,
        reprint_of: int | None = None,
    ) -> PrintJob:
        """Persist a job (committed before this returns) and wake the printer's worker."""
        self._printer_settings(printer_id)
        if not payload:
            raise PrintRefused("nothing to print: the job is empty")
        now = iso_now()
        with self._ctx.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO print_jobs (printer_id, kind, reference, payload, state,"
                " created_at, updated_at, reprint_of) VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
                [printer_id, kind, reference, payload, now, now, reprint_of],
            )
            job_id = int(cursor.lastrowid or 0)
        self._wake[printer_id].set()
        return self.job(job_id)

    def wake(self, printer_id: str) -> None:
        """Look for work now: a job enqueued inside a caller's transaction is only visible
        to the printer's worker once that transaction has committed."""
        self._wake[printer_id].set()

    def reprint_last(self, printer_id: str) -> PrintJob:
        """Queue again the newest receipt this printer printed (or may have printed)."""
        self._printer_settings(printer_id)
        row = self._ctx.store.db.execute(
            "SELECT id, kind, reference, payload FROM print_jobs WHERE printer_id = ?"
            " AND state IN ('printed', 'unconfirmed') ORDER BY id DESC LIMIT 1",
            [printer_id],
        ).fetchone()
        if row is None:
            raise NothingToReprint(f"printer {printer_id} has printed nothing to reprint yet")
        original, kind, reference, payload = row
        return self.enqueue(printer_id, kind, payload, reference, reprint_of=original)

    def job(self, job_id: int) -> PrintJob:
        row = self._ctx.store.db.execute(
            f"SELECT {_JOB_COLUMNS} FROM print_jobs WHERE id = ?", [job_id]
        ).fetchone()
        if row is None:
            raise NotFound(f"print job {job_id} does not exist")
        return PrintJob(*row)

    def jobs(self, printer_id: str | None = None, limit: int = 50) -> list[PrintJob]:
        sql = f"SELECT {_JOB_COLUMNS} FROM print_jobs"
        args: list[Any] = []
        if printer_id is not None:
            sql += " WHERE printer_id = ?"
            args.append(printer_id)
        rows = self._ctx.store.db.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit])
        return [PrintJob(*row) for row in rows]

    # -- the workers ------------------------------------------------------------------

    def start(self) -> None:
        self.recover_interrupted()
        self.purge_printed()
        self._stop.clear()
        for printer_id in self.printers:
            thread = threading.Thread(
                target=self._run, args=(printer_id,), name=f"printer-{printer_id}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Let a job being sent finish, then stop; queued jobs stay queued on disk."""
        self._stop.set()
        for event in self._wake.values():
            event.set()
        for thread in self._threads:
            thread.join(STOP_TIMEOUT_SECONDS)
        self._threads = []
        for device in self.printers.values():
            device.close()

    @property
    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads)

    def recover_interrupted(self) -> int:
        """Jobs left `sending` by a crash may be on paper: mark them unconfirmed."""
        with self._ctx.store.transaction() as db:
            cursor = db.execute(
                "UPDATE print_jobs SET state = 'unconfirmed', updated_at = ?, last_error ="
                " 'the agent stopped while this was printing: check the paper, reprint if"
                " missing' WHERE state = 'sending'",
                [iso_now()],
            )
            return cursor.rowcount

    def print_next(self, printer_id: str) -> PrintJob | None:
        """Try the oldest pending job once; returns it as it stands afterwards."""
        row = self._ctx.store.db.execute(
            "SELECT id, payload, last_error FROM print_jobs"
            " WHERE printer_id = ? AND state = 'pending' ORDER BY id LIMIT 1",
            [printer_id],
        ).fetchone()
        if row is None:
            return None
        job_id, payload, last_error = row
        device = self.printers[printer_id]
        status = device.query_status()
        if not status.ready:
            if status.problem != last_error:  # no fsync every retry while the roll is out
                self._set(job_id, "pending", status.problem, count_attempt=False)
            device.close()
            return self.job(job_id)
        if not self._claim(job_id):
            return self.job(job_id)  # another process (a CLI, a second agent) took it
        try:
            device.send(bytes(payload), label=f"job-{job_id}")
            confirmed = device.query_status()
        except PrinterUnavailable as exc:
            state = "unconfirmed" if exc.maybe_printed else "pending"
            self._set(job_id, state, exc.message, count_attempt=False)
            device.close()
            return self.job(job_id)
        if confirmed.reachable:
            self._set(job_id, "printed", confirmed.problem, count_attempt=False)
        else:
            # Every byte was written but the printer vanished before it could say it
            # had them: it may well have printed.
            self._set(job_id, "unconfirmed", confirmed.problem, count_attempt=False)
        device.close()  # one connection per job: a shared printer serves other tills too
        return self.job(job_id)

    def status(self) -> list[dict[str, Any]]:
        counts: dict[tuple[str, str], int] = {
            (pid, state): n
            for pid, state, n in self._ctx.store.db.execute(
                "SELECT printer_id, state, COUNT(*) FROM print_jobs"
                " WHERE state IN ('pending', 'unconfirmed') GROUP BY printer_id, state"
            )
        }
        out = []
        for printer_id, device in self.printers.items():
            entry = device.describe()
            entry["pending_jobs"] = counts.get((printer_id, "pending"), 0)
            entry["unconfirmed_jobs"] = counts.get((printer_id, "unconfirmed"), 0)
            out.append(entry)
        return out

    def purge_printed(self) -> int:
        """Drop printed jobs past retention, keeping each printer's newest for reprint."""
        with self._ctx.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM print_jobs WHERE state IN ('printed', 'cancelled')"
                " AND created_at < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?)"
                " AND id NOT IN (SELECT MAX(id) FROM print_jobs WHERE state = 'printed'"
                " GROUP BY printer_id)",
                [f"-{PRINTED_RETENTION_DAYS} days"],
            )
            return cursor.rowcount

    def _run(self, printer_id: str) -> None:
        wake = self._wake[printer_id]
        next_status = time.monotonic() + STATUS_POLL_SECONDS
        while not self._stop.is_set():
            try:
                job = self.print_next(printer_id)
            except Exception:  # a broken job or database hiccup must not kill the worker
                log.exception("printer %s: print attempt failed", printer_id)
                job = None
                wake.clear()
                self._stop.wait(self._retry_interval)
                continue
            if job is not None and job.state != "pending":
                continue  # printed or set aside: straight on to the next job
            wake.clear()
            if job is not None:
                wake.wait(self._retry_interval)  # waiting on the printer: retry soon
            elif (
                not wake.wait(JOB_POLL_SECONDS)
                and not self._stop.is_set()
                and time.monotonic() >= next_status
            ):
                next_status = time.monotonic() + STATUS_POLL_SECONDS
                device = self.printers[printer_id]
                device.query_status()
                device.close()

    def _claim(self, job_id: int) -> bool:
        """pending -> sending, committed before any byte leaves; False if already taken."""
        with self._ctx.store.transaction() as db:
            cursor = db.execute(
                "UPDATE print_jobs SET state = 'sending', last_error = NULL, updated_at = ?,"
                " attempts = attempts + 1 WHERE id = ? AND state = 'pending'",
                [iso_now(), job_id],
            )
            return cursor.rowcount == 1

    def _set(self, job_id: int, state: str, error: str | None, count_attempt: bool) -> None:
        now = iso_now()
        with self._ctx.store.transaction() as db:
            db.execute(
                "UPDATE print_jobs SET state = ?, last_error = ?, updated_at = ?,"
                " attempts = attempts + ?,"
                " printed_at = CASE WHEN ? = 'printed' THEN ? ELSE printed_at END"
                " WHERE id = ?",
                [state, error, now, 1 if count_attempt else 0, state, now, job_id],
            )
        if state == "unconfirmed":
            log.warning("print job %s: %s", job_id, error)

    def _printer_settings(self, printer_id: str) -> Any:
        settings = self._settings.get(printer_id)
        if settings is None or printer_id not in self.printers:
            known = ", ".join(sorted(self.printers)) or "none configured"
            raise UnknownPrinter(f"no printer '{printer_id}' (printers: {known})")
        return settings


def _reference(receipt: Receipt) -> str | None:
    for attribute in ("number", "code", "order_number"):
        value = getattr(receipt, attribute, None)
        if isinstance(value, str):
            return value
    return None
