"""Real stand-ins for store hardware: a pseudo-terminal serial scanner, a TCP printer."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import tty
from pathlib import Path

PAPER_OK = 0x12  # DLE EOT 4: fixed bits only
PAPER_OUT = 0x72  # bits 5-6: paper end
PRINTER_ONLINE = 0x12  # DLE EOT 1: bit 3 clear
COVER_OPEN = 0x16  # DLE EOT 2: bit 2


class PtyPort:
    """A serial port as the agent sees it: a device path (a symlink to a pty slave, as
    udev makes /dev/serial/by-id/...) that can vanish and come back."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._master = -1
        self._slave = -1
        self.plug()

    def plug(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass as a scanner sends them
        os.symlink(os.ttyname(self._slave), self.path)

    def unplug(self) -> None:
        self.path.unlink()
        os.close(self._master)
        os.close(self._slave)
        self._master = self._slave = -1

    def write(self, data: bytes) -> None:
        os.write(self._master, data)

    def close(self) -> None:
        if self._master >= 0:
            self.unplug()


class FakeTcpPrinter:
    """An ESC/POS network printer on 127.0.0.1: captures what it is sent, answers DLE EOT
    with the status bytes a real one sends, and can be switched off and on."""

    def __init__(self) -> None:
        self.connections: list[bytearray] = []
        self.paper = PAPER_OK
        self.offline_cause = 0x12
        self.printer_status = PRINTER_ONLINE
        # Close the link after this many bytes of print data (a printer dropping mid-job).
        self.drop_after_bytes: int | None = None
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.port = 0
        self.switch_on()

    @property
    def received(self) -> bytes:
        with self._lock:
            return b"".join(bytes(c) for c in self.connections)

    def print_data(self) -> list[bytes]:
        """What each connection sent, status queries removed: one entry per job sent."""
        with self._lock:
            out = [strip_status_queries(bytes(c)) for c in self.connections]
        return [data for data in out if data]

    def switch_on(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(4)
        self.port = server.getsockname()[1]
        self._server = server
        thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        thread.start()
        self._threads.append(thread)

    def switch_off(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            buffer = bytearray()
            with self._lock:
                self.connections.append(buffer)
            threading.Thread(target=self._serve, args=(conn, buffer), daemon=True).start()

    def _serve(self, conn: socket.socket, buffer: bytearray) -> None:
        with conn:
            conn.settimeout(10)
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                with self._lock:
                    buffer.extend(chunk)
                    printed = len(strip_status_queries(bytes(buffer)))
                if self.drop_after_bytes is not None and printed >= self.drop_after_bytes:
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
                    return
                for n in _status_queries(chunk):
                    answer = {1: self.printer_status, 2: self.offline_cause, 4: self.paper}[n]
                    with contextlib.suppress(OSError):
                        conn.sendall(bytes([answer]))


def _status_queries(chunk: bytes) -> list[int]:
    found, start = [], 0
    while (index := chunk.find(b"\x10\x04", start)) >= 0 and index + 2 < len(chunk):
        if chunk[index + 2] in (1, 2, 4):
            found.append(chunk[index + 2])
        start = index + 3
    return found


def strip_status_queries(data: bytes) -> bytes:
    for n in (1, 2, 4):
        data = data.replace(b"\x10\x04" + bytes([n]), b"")
    return data


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.01) -> bool:  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; the test then asserts on the outcome."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
