"""Serial printers (RS-232 or USB-serial) via python-escpos `Serial` (pyserial)."""

from __future__ import annotations

from typing import Any

from hardware.printers.escpos_lib import printer
from hardware.printers.transport import EscposTransport

# pyserial's read timeout: a status query unanswered this long is "not reported".
READ_TIMEOUT_SECONDS = 0.5


class SerialPrinter(EscposTransport):
    kind = "serial"
    reports_status = True

    def __init__(self, printer_id: str, port: str, baudrate: int) -> None:
        super().__init__(printer_id, port)
        self.port, self.baudrate = port, baudrate

    def _make_device(self) -> Any:
        return printer.Serial(
            devfile=self.port, baudrate=self.baudrate, timeout=READ_TIMEOUT_SECONDS
        )

    def _read_status_byte(self, device: Any, query: bytes) -> bytes:
        # The answer is one byte; python-escpos reads 16, which always waits the timeout.
        device._raw(query)
        return bytes(device.device.read(1))
