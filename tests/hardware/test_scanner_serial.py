"""Serial scanners over real pseudo-terminals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hardware.scanners import UnsupportedScanner, open_scanner
from hardware.scanners.serial import SerialScanner
from tests.hardware import scanner_contract
from tests.hardware.fakes import PtyPort, wait_for
from tests.hardware.scanner_contract import Collector


class SerialHarness:
    def __init__(self, tmp_path: Path, terminator: str = "CR") -> None:
        self.port = PtyPort(tmp_path / "ttyACM-scanner")
        self.terminator = terminator
        self.scanners: list[SerialScanner] = []

    def make(self, prefix: str = "", suffix: str = "") -> SerialScanner:
        url = f"serial://{self.port.path}?baudrate=9600&terminator={self.terminator}"
        url += f"&prefix={prefix}&suffix={suffix}&gap_ms=30"
        scanner = open_scanner("till-scanner", url)
        assert isinstance(scanner, SerialScanner)
        self.scanners.append(scanner)
        return scanner

    def emit(self, text: str) -> None:
        end = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "NONE": b""}[self.terminator]
        self.port.write(text.encode() + end)
        if self.terminator == "NONE":
            # the gap ends the scan: the next one must not start inside it
            count = sum(s.status().get("scans_read", 0) for s in self.scanners)
            wait_for(
                lambda: (
                    sum(s.status().get("scans_read", 0) for s in self.scanners) > count
                    or any(s.status().get("card_data_dropped", 0) for s in self.scanners)
                ),
                timeout=1,
            )

    def unplug(self) -> None:
        self.port.unplug()

    def replug(self) -> None:
        self.port.plug()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[SerialHarness]:
    h = SerialHarness(tmp_path)
    yield h
    for scanner in h.scanners:
        scanner.stop()
    h.port.close()


@pytest.mark.parametrize("contract", scanner_contract.CONTRACT, ids=lambda f: f.__name__)
def test_serial_scanner_contract(harness: SerialHarness, contract) -> None:  # type: ignore[no-untyped-def]
    contract(harness)


@pytest.mark.parametrize("terminator", ["LF", "CRLF", "NONE"])
def test_each_terminator_frames_scans(tmp_path: Path, terminator: str) -> None:
    h = SerialHarness(tmp_path, terminator)
    scanner = h.make()
    sink = Collector()
    scanner.start(sink)
    try:
        assert wait_for(lambda: scanner.status()["connected"])
        h.emit("4006381333931")
        h.emit("W000000123")
        assert wait_for(lambda: len(sink.scans) == 2)
        assert sink.data() == ["4006381333931", "W000000123"]
    finally:
        scanner.stop()
        h.port.close()


def test_split_writes_and_noise_between_scans(harness: SerialHarness) -> None:
    scanner = harness.make()
    sink = Collector()
    scanner.start(sink)
    assert wait_for(lambda: scanner.status()["connected"])
    for piece in (b"4006", b"3813", b"33931\r", b"\x00\x00\r", b"\r\n", b"W0000", b"00123\r"):
        harness.port.write(piece)
    assert wait_for(lambda: len(sink.scans) == 2)
    assert sink.data() == ["4006381333931", "W000000123"]
    assert scanner.status()["noise_ignored"] >= 2


def test_status_reports_unplugged_device_while_it_is_missing(harness: SerialHarness) -> None:
    scanner = harness.make()
    scanner.start(Collector())
    assert wait_for(lambda: scanner.status()["state"] == "connected")
    harness.unplug()
    assert wait_for(lambda: scanner.status()["state"] == "disconnected")
    status = scanner.status()
    assert status["last_error"]
    assert status["port"] == str(harness.port.path)


def test_scan_cut_off_by_unplug_is_not_glued_to_the_next(harness: SerialHarness) -> None:
    scanner = harness.make()
    sink = Collector()
    scanner.start(sink)
    assert wait_for(lambda: scanner.status()["connected"])
    harness.port.write(b"40063813")  # unplugged mid-scan
    harness.unplug()
    assert wait_for(lambda: scanner.status()["connected"] is False)
    harness.replug()
    assert wait_for(lambda: scanner.status()["connected"] is True)
    harness.emit("W000000128")
    assert wait_for(lambda: len(sink.scans) == 1)
    assert sink.data() == ["W000000128"]


def test_scanner_absent_at_start_is_picked_up_when_plugged(tmp_path: Path) -> None:
    path = tmp_path / "later"
    scanner = open_scanner("late", f"serial://{path}")
    sink = Collector()
    scanner.start(sink)
    try:
        assert wait_for(lambda: scanner.status()["state"] == "disconnected")
        port = PtyPort(path)
        assert wait_for(lambda: scanner.status()["connected"] is True)
        port.write(b"W000000129\r")
        assert wait_for(lambda: sink.data() == ["W000000129"])
    finally:
        scanner.stop()
        port.close()


def test_several_scanners_at_once_keep_their_ids(tmp_path: Path) -> None:
    ports = [PtyPort(tmp_path / f"scanner-{i}") for i in range(3)]
    sink = Collector()
    scanners = [open_scanner(f"till-{i}", f"serial://{p.path}") for i, p in enumerate(ports)]
    for scanner in scanners:
        scanner.start(sink)
    try:
        assert wait_for(lambda: all(s.status()["connected"] for s in scanners))
        for i, port in enumerate(ports):
            port.write(f"W00000013{i}\r".encode())
        assert wait_for(lambda: len(sink.scans) == 3)
        assert sorted((s.source, s.data) for s in sink.scans) == [
            ("till-0", "W000000130"),
            ("till-1", "W000000131"),
            ("till-2", "W000000132"),
        ]
    finally:
        for scanner in scanners:
            scanner.stop()
        for port in ports:
            port.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("serial://", "needs a device"),
        ("serial:///dev/ttyACM0?baudrate=fast", "baudrate must be a whole number"),
        ("serial:///dev/ttyACM0?baudrate=10", "between 50 and"),
        ("serial:///dev/ttyACM0?terminator=TAB", "terminator 'TAB'"),
        ("serial:///dev/ttyACM0?parity=X", "parity 'X'"),
        ("serial:///dev/ttyACM0?speed=9600", "unknown option speed"),
        ("serial:///dev/ttyACM0?encoding=klingon", "not a text encoding"),
        ("serial:///dev/ttyACM0?baudrate=9600&baudrate=19200", "given twice"),
        ("bluetooth://x", "no scanner backend"),
    ],
)
def test_bad_scanner_url_is_refused_with_reason(url: str, message: str) -> None:
    with pytest.raises(UnsupportedScanner, match=message):
        open_scanner("s", url)
