"""Serial scanners (RS-232, or USB in CDC-ACM / USB-serial mode) via pyserial.

Each read ends at the configured terminator (CR, LF, CRLF), or, with none, when the line
has been quiet for `gap_ms`. Unplugging the scanner makes the device node vanish; the
reader then waits for it to return and carries on, and `status()` says which it is.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

import serial

from hardware.scan import MAX_SCAN_CHARS
from hardware.scanners.delivery import ScanOptions
from hardware.scanners.threaded import ThreadedScanner

log = logging.getLogger(__name__)
TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "NONE": b""}
PARITIES = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
# How often a missing device node is looked for again: fast enough that a re-plugged
# scanner is back before the cashier scans again, slow enough to cost nothing.
REOPEN_INTERVAL_SECONDS = 0.25
# One read() waits at most this long, so stop() and vanish checks answer promptly.
READ_SLICE_SECONDS = 0.05
# A fragment with no terminator for this long is a scan cut off by an unplug or noise;
# it must not be glued onto the front of the next scan.
STALE_FRAGMENT_SECONDS = 2.0
MAX_FRAGMENT_BYTES = MAX_SCAN_CHARS * 4


@dataclass(frozen=True)
class SerialOptions:
    port: str
    baudrate: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: int = 1
    terminator: str = "CR"
    gap_ms: int = 50  # with terminator NONE: this much silence ends a scan
    encoding: str = "utf-8"


class SerialScanner(ThreadedScanner):
    kind = "serial"

    def __init__(self, scanner_id: str, options: SerialOptions, scan: ScanOptions) -> None:
        super().__init__(scanner_id, scan)
        self.options = options

    def _describe(self) -> dict[str, object]:
        return {"port": self.options.port}

    def _run(self) -> None:
        ever_connected = False
        while not self._stop.is_set():
            port = self._open()
            if port is None:
                self._stop.wait(REOPEN_INTERVAL_SECONDS)
                continue
            if ever_connected:
                self.reconnects += 1
                log.info("scanner %s is back on %s", self.id, self.options.port)
            ever_connected = True
            self._state = "connected"
            self._last_error = None
            try:
                self._read_until_gone(port)
            except (serial.SerialException, OSError) as exc:
                self._last_error = str(exc)
                log.warning("scanner %s on %s went away: %s", self.id, self.options.port, exc)
            finally:
                port.close()
            if not self._stop.is_set():
                self._state = "disconnected"

    def _open(self) -> serial.Serial | None:
        try:
            return serial.Serial(
                port=self.options.port,
                baudrate=self.options.baudrate,
                parity=PARITIES[self.options.parity],
                bytesize=self.options.bytesize,
                stopbits=self.options.stopbits,
                timeout=READ_SLICE_SECONDS,
            )
        except (serial.SerialException, OSError) as exc:
            if self._state != "disconnected":
                log.warning("scanner %s: cannot open %s: %s", self.id, self.options.port, exc)
            self._state = "disconnected"
            self._last_error = str(exc)
            return None

    def _read_until_gone(self, port: serial.Serial) -> None:
        terminator = TERMINATORS[self.options.terminator]
        gap = self.options.gap_ms / 1000
        buffer = b""
        last_byte_at = time.monotonic()
        while not self._stop.is_set():
            chunk = port.read(port.in_waiting or 1)
            now = time.monotonic()
            if chunk:
                buffer += chunk
                last_byte_at = now
                if terminator:
                    *reads, buffer = buffer.split(terminator)
                    for read in reads:
                        self._deliver(read)
                if len(buffer) > MAX_FRAGMENT_BYTES:
                    buffer = b""  # not a barcode: a runaway line
                continue
            if buffer and not terminator and now - last_byte_at >= gap:
                self._deliver(buffer)
                buffer = b""
            elif buffer and now - last_byte_at >= STALE_FRAGMENT_SECONDS:
                buffer = b""
            if not os.path.exists(self.options.port):
                # A pty or USB node can vanish while the open descriptor stays readable.
                raise serial.SerialException(f"{self.options.port} disappeared")

    def _deliver(self, raw: bytes) -> None:
        if self._delivery is None:
            return
        text = raw.decode(self.options.encoding, errors="replace")
        # CRLF framing read as CR leaves a stray LF; control bytes are dropped downstream.
        self._delivery.deliver(text)
