"""The one path every scanner backend hands its reads through: drop line noise, strip the
configured prefix/suffix, build the `Scan` (which splits off the AIM symbology identifier
and checks the read), and drop card data before it reaches the sink.

Backends only frame bytes into reads; everything a scan means starts here, so a rule
about scans changes in one place for every kind of scanner.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from hardware.scan import Scan, ScanSink
from hardware.symbology import GROUP_SEPARATOR

log = logging.getLogger(__name__)
# GS1's FNC1 separator arrives as ASCII 29 and must survive; other control bytes are
# line noise (a scanner waking up, a cable being plugged in).
_KEEP_CONTROL = {GROUP_SEPARATOR}


@dataclass(frozen=True)
class ScanOptions:
    """How a scanner is set up to frame its data (`prefix`/`suffix` are stripped)."""

    prefix: str = ""
    suffix: str = ""


@dataclass
class ScanCounters:
    scans_read: int = 0
    card_data_dropped: int = 0
    noise_ignored: int = 0
    sink_failures: int = 0


class ScanDelivery:
    def __init__(self, scanner_id: str, options: ScanOptions, sink: ScanSink) -> None:
        self.scanner_id = scanner_id
        self.options = options
        self._sink = sink
        self._lock = threading.Lock()
        self.counters = ScanCounters()

    def deliver(self, raw: str) -> str | None:
        """Turn one framed read into a Scan for the sink; returns the sink's answer (or
        the refusal, for card data, which never reaches the sink)."""
        text = "".join(ch for ch in raw if ch >= " " or ch in _KEEP_CONTROL).strip()
        if self.options.prefix and text.startswith(self.options.prefix):
            text = text[len(self.options.prefix) :]
        if self.options.suffix and text.endswith(self.options.suffix):
            text = text[: -len(self.options.suffix)]
        scan = Scan(data=text, symbology=None, source=self.scanner_id, at=datetime.now(UTC))
        if scan.unreadable == "empty":
            with self._lock:
                self.counters.noise_ignored += 1
            return None
        if scan.unreadable == "card_data":
            # Not logged, not stored, not passed on: only counted.
            with self._lock:
                self.counters.card_data_dropped += 1
            log.warning("scanner %s: a read looking like card data was dropped", self.scanner_id)
            return f"refused: {scan.reason}"
        with self._lock:
            self.counters.scans_read += 1
        try:
            return self._sink(scan)
        except Exception:  # the sink's failure must not kill the scanner's thread
            with self._lock:
                self.counters.sink_failures += 1
            log.exception("scanner %s: the scan could not be handed on", self.scanner_id)
            return None

    def counter_status(self) -> dict[str, int]:
        with self._lock:
            return {
                "scans_read": self.counters.scans_read,
                "card_data_dropped": self.counters.card_data_dropped,
                "noise_ignored": self.counters.noise_ignored,
                "sink_failures": self.counters.sink_failures,
            }
