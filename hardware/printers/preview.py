"""`preview://DIR`: a printer that writes a PNG of exactly the bytes it was sent (and the
bytes themselves beside it), for development, demos and stores testing layouts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from hardware.printers.errors import PrinterUnavailable
from hardware.printers.escpos_image import render_png
from hardware.printers.status import PrinterStatus


class PreviewPrinter:
    kind = "preview"

    def __init__(
        self, printer_id: str, directory: Path, width_px: int, code_pages: dict[int, str]
    ) -> None:
        self.id = printer_id
        self.directory = directory
        self.width_px = width_px
        self._code_pages = code_pages
        self._lock = threading.Lock()
        self._count = 0
        self.last_status: PrinterStatus | None = None
        self.last_file: Path | None = None

    def send(self, data: bytes, label: str = "") -> None:
        with self._lock:
            self._count += 1
            name = _safe(label) or f"print-{self._count:06d}"
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                partial = self.directory / f".{name}.png.partial"
                render_png(data, self.width_px, self._code_pages, partial)
                (self.directory / f"{name}.bin").write_bytes(data)
                target = self.directory / f"{name}.png"
                os.replace(partial, target)  # a reader never sees half a PNG
            except OSError as exc:
                raise PrinterUnavailable(
                    f"preview printer {self.id} cannot write to {self.directory}: {exc}"
                ) from None
            self.last_file = target

    def query_status(self) -> PrinterStatus:
        if self.directory.exists():
            writable = self.directory.is_dir() and os.access(self.directory, os.W_OK)
        else:
            # Made on the first print: writable if the nearest existing ancestor is.
            ancestor = self.directory.parent
            while not ancestor.exists() and ancestor != ancestor.parent:
                ancestor = ancestor.parent
            writable = ancestor.is_dir() and os.access(ancestor, os.W_OK)
        self.last_status = PrinterStatus(
            reachable=writable,
            online=True if writable else None,
            paper="ok" if writable else "unknown",
            cover_open=False if writable else None,
            detail=None if writable else f"{self.directory} is not writable",
        )
        return self.last_status

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": str(self.directory),
            "status": self.last_status.as_dict() if self.last_status else None,
            "last_file": str(self.last_file) if self.last_file else None,
        }


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in label).strip(".")[:80]
