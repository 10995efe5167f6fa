"""Printer status from DLE EOT (real-time status transmission), as ESC/POS printers
answer it: one byte per query, fixed bits 1 and 4 set, the rest meaning below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DLE_EOT_PRINTER = b"\x10\x04\x01"  # n=1: printer status (bit 3: offline)
DLE_EOT_OFFLINE_CAUSE = b"\x10\x04\x02"  # n=2: bit 2 cover open, bit 5 stopped: paper end
DLE_EOT_PAPER = b"\x10\x04\x04"  # n=4: bits 2-3 paper near end, bits 5-6 paper end
STATUS_QUERIES = (DLE_EOT_PRINTER, DLE_EOT_OFFLINE_CAUSE, DLE_EOT_PAPER)

PaperState = Literal["ok", "low", "out", "unknown"]


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer said; None / "unknown" where it does not report."""

    reachable: bool
    online: bool | None = None
    paper: PaperState = "unknown"
    cover_open: bool | None = None
    detail: str | None = None

    @property
    def ready(self) -> bool:
        """Worth sending a receipt to: reachable and nothing it reported stops printing."""
        return (
            self.reachable
            and self.online is not False
            and self.paper != "out"
            and self.cover_open is not True
        )

    @property
    def problem(self) -> str | None:
        """A sentence for the cashier, or None when the printer is ready."""
        if not self.reachable:
            return self.detail or "printer not reachable: check it is on and connected"
        if self.paper == "out":
            return "printer is out of paper: put in a new roll"
        if self.cover_open:
            return "printer cover is open: close it"
        if self.online is False:
            return "printer is offline: check its error light"
        return None

    def as_dict(self) -> dict[str, object]:
        return {
            "reachable": self.reachable,
            "online": self.online,
            "paper": self.paper,
            "cover_open": self.cover_open,
            "ready": self.ready,
            "problem": self.problem,
        }


UNREPORTED = PrinterStatus(reachable=True)


def parse_status(printer: bytes, offline_cause: bytes, paper: bytes) -> PrinterStatus:
    """Build the status from the three answers (an empty answer: not reported)."""
    online = None if not printer else not printer[0] & 0x08
    cover_open = None if not offline_cause else bool(offline_cause[0] & 0x04)
    paper_state: PaperState = "unknown"
    if paper:
        if paper[0] & 0x60:
            paper_state = "out"
        elif paper[0] & 0x0C:
            paper_state = "low"
        else:
            paper_state = "ok"
    elif offline_cause and offline_cause[0] & 0x20:
        paper_state = "out"
    return PrinterStatus(True, online, paper_state, cover_open)
