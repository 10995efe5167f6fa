"""Every printer backend passes the printer contract, against a real device stand-in:
a TCP server, a pseudo-terminal, a device file, a preview directory."""

from __future__ import annotations

import os
import shutil
import threading
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.printers import UnsupportedPrinter, open_printer
from hardware.printers.errors import PrinterUnavailable
from tests.hardware import printer_contract
from tests.hardware.fakes import PAPER_OK, FakeTcpPrinter


class TcpHarness:
    def __init__(self) -> None:
        self.device = FakeTcpPrinter()

    def make(self):  # type: ignore[no-untyped-def]
        return open_printer("tcp-printer", self.device.url)

    def received(self) -> bytes:
        return self.device.received

    def remove(self) -> None:
        self.device.switch_off()

    def restore(self) -> None:
        self.device.switch_on()


class PtyPrinterHarness:
    """A serial printer on a pty: the far end captures bytes and answers DLE EOT."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = bytearray()
        self._lock = threading.Lock()
        self._master = -1
        self.restore()

    def make(self):  # type: ignore[no-untyped-def]
        return open_printer("serial-printer", f"serial://{self.path}?baudrate=19200")

    def received(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def restore(self) -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.symlink(os.ttyname(self._slave), self.path)
        threading.Thread(target=self._serve, args=(self._master,), daemon=True).start()

    def remove(self) -> None:
        self.path.unlink()
        os.close(self._master)
        os.close(self._slave)
        self._master = -1

    def close(self) -> None:
        if self._master >= 0:
            self.remove()

    def _serve(self, master: int) -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            with self._lock:
                self._data.extend(chunk)
            for n in (1, 2, 4):
                if b"\x10\x04" + bytes([n]) in chunk:
                    try:
                        os.write(master, bytes([PAPER_OK]))
                    except OSError:
                        return


class FileHarness:
    """A device file: a FIFO standing in for /dev/usb/lp0 (a char device, no truncation),
    drained by a reader thread; removed on unplug."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data = bytearray()
        self._lock = threading.Lock()
        self._fd = -1
        self.restore()

    def make(self):  # type: ignore[no-untyped-def]
        return open_printer("file-printer", f"file://{self.path}")

    def received(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def restore(self) -> None:
        os.mkfifo(self.path)
        # O_RDWR: the reader never sees end-of-file and a writer never blocks on open.
        self._fd = os.open(self.path, os.O_RDWR)
        threading.Thread(target=self._drain, args=(self._fd,), daemon=True).start()

    def remove(self) -> None:
        self.path.unlink()
        os.close(self._fd)
        self._fd = -1

    def close(self) -> None:
        if self._fd >= 0:
            self.remove()

    def _drain(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self._data.extend(chunk)


class PreviewHarness:
    def __init__(self, path: Path) -> None:
        self.path = path

    def make(self):  # type: ignore[no-untyped-def]
        return open_printer("preview-printer", f"preview://{self.path}")

    def received(self) -> bytes:
        if not self.path.is_dir():
            return b""
        files = sorted(self.path.glob("*.bin"), key=lambda p: p.stat().st_mtime_ns)
        return b"".join(f.read_bytes() for f in files)

    def remove(self) -> None:
        # A file where the directory should be: a full or broken disk behaves alike.
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.write_text("not a directory")

    def restore(self) -> None:
        self.path.unlink()


@pytest.fixture(params=["tcp", "serial", "file", "preview"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "tcp":
        h: object = TcpHarness()
    elif request.param == "serial":
        h = PtyPrinterHarness(tmp_path / "ttyUSB-printer")
    elif request.param == "file":
        h = FileHarness(tmp_path / "lp0")
    else:
        h = PreviewHarness(tmp_path / "preview")
    yield h
    if isinstance(h, TcpHarness):
        h.device.switch_off()
    if isinstance(h, PtyPrinterHarness | FileHarness):
        h.close()


@pytest.mark.parametrize("contract", printer_contract.CONTRACT, ids=lambda f: f.__name__)
def test_printer_contract(harness, contract) -> None:  # type: ignore[no-untyped-def]
    contract(harness)


def test_file_printer_never_creates_the_device_node(tmp_path: Path) -> None:
    missing = tmp_path / "lp0"
    printer = open_printer("p", f"file://{missing}")
    with pytest.raises(PrinterUnavailable):
        printer.send(b"\x1b@receipt\n")
    assert not missing.exists()


def test_usb_printer_without_pyusb_says_what_to_install() -> None:
    printer = open_printer("usb-printer", "usb://04b8:0202")
    assert printer.describe()["target"] == "04b8:0202"
    with pytest.raises(PrinterUnavailable, match="pip install pyusb"):
        printer.send(b"\x1b@")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("usb://epson", "VENDOR:PRODUCT in hex"),
        ("tcp://:9100", "needs tcp://HOST:PORT"),
        ("tcp://printer:ninety", "port must be a number"),
        ("serial://", "needs serial:///dev/ttyUSB0"),
        ("serial:///dev/ttyUSB0?baudrate=quick", "baudrate must be a number"),
        ("file://", "needs file:///dev/usb/lp0"),
        ("preview://", "needs a directory"),
        ("cups://receipt", "no printer backend"),
    ],
)
def test_bad_printer_url_is_refused_with_reason(url: str, message: str) -> None:
    with pytest.raises(UnsupportedPrinter, match=message):
        open_printer("p", url)
