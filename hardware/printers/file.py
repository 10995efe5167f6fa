"""Printers that are a device file (`/dev/usb/lp0`, a parallel port) via python-escpos
`File`. The kernel's usblp driver does not pass DLE EOT answers back reliably, so this
backend reports reachable/unreachable only."""

from __future__ import annotations

import os
from typing import Any

from hardware.printers.escpos_lib import printer
from hardware.printers.transport import EscposTransport


class FilePrinter(EscposTransport):
    kind = "file"

    def __init__(self, printer_id: str, path: str) -> None:
        super().__init__(printer_id, path)
        self.path = path

    def _make_device(self) -> Any:
        # python-escpos opens with "wb", which would create a plain file where the
        # device node should be and "print" into it while the printer is unplugged.
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"{self.path} does not exist (printer unplugged?)")
        return printer.File(devfile=self.path, auto_flush=True)
