"""What every scanner that reads a device on its own thread shares: start/stop of that
thread, the connection state it reports, reconnect counting, and the delivery path."""

from __future__ import annotations

import threading

from hardware.scan import ScanSink
from hardware.scanners.delivery import ScanDelivery, ScanOptions

STOP_TIMEOUT_SECONDS = 5


class ThreadedScanner:
    """Subclasses set `kind`, implement `_run()` (loop until `_stop` is set, keeping
    `_state`, `_last_error` and `reconnects` current) and `_describe()`."""

    kind = "threaded"

    def __init__(self, scanner_id: str, scan: ScanOptions) -> None:
        self.id = scanner_id
        self._scan_options = scan
        self._delivery: ScanDelivery | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "stopped"
        self._last_error: str | None = None
        self.reconnects = 0

    def start(self, sink: ScanSink) -> None:
        self._delivery = ScanDelivery(self.id, self._scan_options, sink)
        self._stop.clear()
        self._state = "connecting"
        self._thread = threading.Thread(target=self._run, name=f"scanner-{self.id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS)
        self._state = "stopped"

    def status(self) -> dict[str, object]:
        counters = self._delivery.counter_status() if self._delivery else {}
        return {
            "id": self.id,
            "kind": self.kind,
            **self._describe(),
            "state": self._state,
            "connected": self._state == "connected",
            "reconnects": self.reconnects,
            "last_error": self._last_error,
            **counters,
        }

    def _describe(self) -> dict[str, object]:
        """Which device this is (port, path, layout...), for status()."""
        return {}

    def _run(self) -> None:
        raise NotImplementedError
