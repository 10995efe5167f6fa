"""The contract every scanner backend passes (Home Assistant's `help_test_*` pattern).

A harness drives one backend the way its real device would: `emit(text)` is one
physical scan ending in the backend's own terminator; `unplug()`/`replug()` take the
device away and bring it back.
"""

from __future__ import annotations

import threading
from typing import Protocol

from hardware.scan import Scan
from hardware.scanners import ScanSource
from tests.hardware.fakes import wait_for

VISA_TEST_NUMBER = "4111111111111111"  # a published test PAN: Luhn-valid, 16 digits


class ScannerHarness(Protocol):
    def make(self, prefix: str = "", suffix: str = "") -> ScanSource: ...
    def emit(self, text: str) -> None: ...
    def unplug(self) -> None: ...
    def replug(self) -> None: ...


class Collector:
    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self._lock = threading.Lock()

    def __call__(self, scan: Scan) -> str:
        with self._lock:
            self.scans.append(scan)
        return "ok"

    def data(self) -> list[str]:
        with self._lock:
            return [s.data for s in self.scans]


def _started(harness: ScannerHarness, **options: str) -> tuple[ScanSource, Collector]:
    scanner = harness.make(**options)
    sink = Collector()
    scanner.start(sink)
    assert wait_for(lambda: scanner.status().get("connected", True) is not False)
    return scanner, sink


def help_test_scans_arrive_in_order_with_source(harness: ScannerHarness) -> None:
    scanner, sink = _started(harness)
    try:
        for code in ("4006381333931", "W000000123", "2900000000017"):
            harness.emit(code)
        assert wait_for(lambda: len(sink.scans) == 3)
        assert sink.data() == ["4006381333931", "W000000123", "2900000000017"]
        assert {s.source for s in sink.scans} == {scanner.id}
        assert all(s.at.tzinfo is not None for s in sink.scans)
        assert scanner.status()["scans_read"] == 3
    finally:
        scanner.stop()


def help_test_prefix_suffix_and_symbology(harness: ScannerHarness) -> None:
    scanner, sink = _started(harness, prefix="STX", suffix="ETX")
    try:
        harness.emit("STX]E04006381333931ETX")
        harness.emit("STXW000000124ETX")
        assert wait_for(lambda: len(sink.scans) == 2)
        first, second = sink.scans
        assert (first.symbology, first.data) == ("]E0", "4006381333931")
        assert (second.symbology, second.data) == (None, "W000000124")
    finally:
        scanner.stop()


def help_test_card_data_dropped_and_counted(harness: ScannerHarness) -> None:
    scanner, sink = _started(harness)
    try:
        harness.emit(VISA_TEST_NUMBER)
        harness.emit("%B4111111111111111^DOE/JOHN^25121010000000000")
        harness.emit("W000000125")
        assert wait_for(lambda: len(sink.scans) == 1)
        assert sink.data() == ["W000000125"]
        status = scanner.status()
        assert status["card_data_dropped"] == 2
        assert VISA_TEST_NUMBER not in repr(status)
    finally:
        scanner.stop()


def help_test_resumes_after_unplug(harness: ScannerHarness) -> None:
    scanner, sink = _started(harness)
    try:
        harness.emit("W000000126")
        assert wait_for(lambda: len(sink.scans) == 1)
        harness.unplug()
        assert wait_for(lambda: scanner.status()["connected"] is False)
        harness.replug()
        assert wait_for(lambda: scanner.status()["connected"] is True)
        harness.emit("W000000127")
        assert wait_for(lambda: len(sink.scans) == 2)
        assert sink.data() == ["W000000126", "W000000127"]
        assert scanner.status()["reconnects"] >= 1
    finally:
        scanner.stop()


def help_test_stop_ends_reading(harness: ScannerHarness) -> None:
    scanner, sink = _started(harness)
    scanner.stop()
    assert scanner.status()["connected"] is False
    assert not any(
        t.name == f"scanner-{scanner.id}" and t.is_alive() for t in threading.enumerate()
    )
    assert sink.scans == []


CONTRACT = (
    help_test_scans_arrive_in_order_with_source,
    help_test_prefix_suffix_and_symbology,
    help_test_card_data_dropped_and_counted,
    help_test_resumes_after_unplug,
    help_test_stop_ends_reading,
)
