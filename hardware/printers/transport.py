"""The one seam every device backend fills: raw bytes out, status bytes in.

Each backend wraps one python-escpos printer class (Network, Serial, File, Usb) for its
connection handling and `_raw`/`_read`; this base adds what the agent needs on top:
named errors, "did any byte leave?", DLE EOT status and an explicit close (python-escpos
closes in `__del__`, which we never rely on).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from hardware.printers.errors import PrinterUnavailable
from hardware.printers.escpos_lib import EscposError
from hardware.printers.status import STATUS_QUERIES, UNREPORTED, PrinterStatus, parse_status

log = logging.getLogger(__name__)


class EscposTransport:
    kind = "escpos"
    reports_status = False  # backends whose device answers DLE EOT set this

    def __init__(self, printer_id: str, target: str) -> None:
        self.id = printer_id
        self.target = target
        self._lock = threading.Lock()
        self._device: Any = None
        self.last_status: PrinterStatus | None = None

    def _make_device(self) -> Any:
        raise NotImplementedError

    def _read_status_byte(self, device: Any, query: bytes) -> bytes:
        device._raw(query)
        return bytes(device._read()[:1])

    def send(self, data: bytes, label: str = "") -> None:
        """Deliver `data` whole; PrinterUnavailable (with maybe_printed) if it could not."""
        with self._lock:
            device = self._ensure_open()
            try:
                device._raw(data)
            except (OSError, EscposError, ValueError) as exc:
                self._drop()
                raise PrinterUnavailable(
                    f"printer {self.id} dropped while printing: {_one_line(exc)}",
                    maybe_printed=True,
                ) from None

    def query_status(self) -> PrinterStatus:
        """Ask the printer (DLE EOT) where it answers; otherwise reachable/unreachable only."""
        with self._lock:
            try:
                device = self._ensure_open()
            except PrinterUnavailable as exc:
                self.last_status = PrinterStatus(reachable=False, detail=exc.message)
                return self.last_status
            if not self.reports_status:
                self.last_status = UNREPORTED
                return self.last_status
            try:
                answers = [self._read_status_byte(device, q) for q in STATUS_QUERIES]
            except TimeoutError:
                answers = [b"", b"", b""]  # connected but silent: status not reported
            except (OSError, EscposError, ValueError) as exc:
                self._drop()
                self.last_status = PrinterStatus(
                    reachable=False, detail=f"printer {self.id} not answering: {_one_line(exc)}"
                )
                return self.last_status
            self.last_status = parse_status(*answers)
            return self.last_status

    def close(self) -> None:
        with self._lock:
            self._drop()

    def describe(self) -> dict[str, object]:
        status = self.last_status
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "status": status.as_dict() if status else None,
        }

    def _ensure_open(self) -> Any:
        if self._device is not None:
            return self._device
        try:
            device = self._make_device()
            device.open()
        except (OSError, EscposError, ValueError) as exc:
            raise PrinterUnavailable(
                f"printer {self.id} ({self.target}) is not reachable: {_one_line(exc)}"
            ) from None
        self._device = device
        return device

    def _drop(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            device.close()
        except Exception as exc:  # closing a broken link may fail; it is gone either way
            log.debug("closing printer %s: %s", self.id, exc)
        # python-escpos closes again in __del__; make that a no-op.
        device._device = False


def _one_line(exc: BaseException) -> str:
    # python-escpos puts newlines in its messages; status lines and logs want one line.
    return " ".join(str(exc).split())
