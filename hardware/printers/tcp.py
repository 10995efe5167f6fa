"""Network printers (raw TCP, usually port 9100) via python-escpos `Network`."""

from __future__ import annotations

from typing import Any

from hardware.printers.escpos_lib import printer
from hardware.printers.transport import EscposTransport

CONNECT_TIMEOUT_SECONDS = 5.0
# A printer answers DLE EOT within milliseconds; one that has not in this long does not report.
STATUS_TIMEOUT_SECONDS = 0.5


class NetworkPrinter(EscposTransport):
    kind = "tcp"
    reports_status = True

    def __init__(self, printer_id: str, host: str, port: int) -> None:
        super().__init__(printer_id, f"{host}:{port}")
        self.host, self.port = host, port

    def _make_device(self) -> Any:
        return printer.Network(host=self.host, port=self.port, timeout=CONNECT_TIMEOUT_SECONDS)

    def _read_status_byte(self, device: Any, query: bytes) -> bytes:
        device.device.settimeout(STATUS_TIMEOUT_SECONDS)
        try:
            return super()._read_status_byte(device, query)
        finally:
            device.device.settimeout(CONNECT_TIMEOUT_SECONDS)
