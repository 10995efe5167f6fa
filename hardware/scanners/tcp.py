"""Development scanner: each line sent to a local TCP port is one scan.

`printf '2900000000017\n' | nc 127.0.0.1 9300` behaves like a scanner beside the till;
the agent answers each line with one line saying what it made of the scan.
"""

from __future__ import annotations

import contextlib
import logging
import socketserver
import threading

from hardware.scan import MAX_SCAN_CHARS, ScanSink
from hardware.scanners.delivery import ScanDelivery, ScanOptions

log = logging.getLogger(__name__)
# Room for the longest QR payload in UTF-8 plus a terminator.
MAX_LINE_BYTES = MAX_SCAN_CHARS * 4 + 2
IDLE_TIMEOUT_SECONDS = 300  # a forgotten `nc` session must not hold a thread forever


class TcpScanner:
    def __init__(
        self, scanner_id: str, host: str, port: int, scan: ScanOptions | None = None
    ) -> None:
        self.id = scanner_id
        self._host, self._port = host, port
        self._scan_options = scan or ScanOptions()
        self._delivery: ScanDelivery | None = None
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def scans_read(self) -> int:
        return self._delivery.counters.scans_read if self._delivery else 0

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return (self._host, self._port)
        host, port = self._server.server_address[:2]
        return (str(host), int(port))

    def start(self, sink: ScanSink) -> None:
        delivery = self._delivery = ScanDelivery(self.id, self._scan_options, sink)

        class Handler(socketserver.StreamRequestHandler):
            timeout = IDLE_TIMEOUT_SECONDS

            def handle(self) -> None:
                while True:
                    try:
                        line = self.rfile.readline(MAX_LINE_BYTES)
                    except (TimeoutError, OSError):
                        return
                    if not line:
                        return
                    if len(line) >= MAX_LINE_BYTES and not line.endswith(b"\n"):
                        self._drain_rest_of_line()
                        self._reply("refused: scan too long to be a barcode")
                        continue
                    text = line.rstrip(b"\r\n").decode("utf-8", errors="replace")
                    if not text.strip():
                        continue  # a bare Enter is not a scan
                    # the shared path: prefix/suffix, symbology, card-data guard
                    reply = delivery.deliver(text)
                    if reply is not None:
                        self._reply(reply)

            def _reply(self, text: str) -> None:
                # the sender may have hung up; the scan itself was handled
                with contextlib.suppress(OSError):
                    self.wfile.write(text.replace("\n", " ").encode() + b"\n")

            def _drain_rest_of_line(self) -> None:
                while True:
                    chunk = self.rfile.readline(MAX_LINE_BYTES)
                    if not chunk or chunk.endswith(b"\n"):
                        return

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((self._host, self._port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"scanner-{self.id}", daemon=True
        )
        self._thread.start()
        log.info("tcp scanner %s listening on %s:%s", self.id, *self.address)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": "tcp",
            "listening": self._server is not None,
            "connected": self._server is not None,
            "address": "{}:{}".format(*self.address),
            "scans_read": self.scans_read,
            **(self._delivery.counter_status() if self._delivery else {}),
        }
