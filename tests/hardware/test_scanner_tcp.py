"""The development TCP scanner passes the same contract (a socket cannot be unplugged)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from hardware.scanners import open_scanner
from hardware.scanners.tcp import TcpScanner
from tests.hardware import scanner_contract


class TcpHarness:
    def __init__(self) -> None:
        self.scanners: list[TcpScanner] = []
        self._client: socket.socket | None = None

    def make(self, prefix: str = "", suffix: str = "") -> TcpScanner:
        scanner = open_scanner("dev", f"tcp://127.0.0.1:0?prefix={prefix}&suffix={suffix}")
        assert isinstance(scanner, TcpScanner)
        self.scanners.append(scanner)
        return scanner

    def emit(self, text: str) -> None:
        if self._client is None:
            self._client = socket.create_connection(self.scanners[-1].address, timeout=5)
        self._client.sendall(text.encode() + b"\n")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


@pytest.fixture
def harness() -> Iterator[TcpHarness]:
    h = TcpHarness()
    yield h
    h.close()
    for scanner in h.scanners:
        scanner.stop()


_NO_UNPLUG = [
    c for c in scanner_contract.CONTRACT if c.__name__ != "help_test_resumes_after_unplug"
]


@pytest.mark.parametrize("contract", _NO_UNPLUG, ids=lambda f: f.__name__)
def test_tcp_scanner_contract(harness: TcpHarness, contract) -> None:  # type: ignore[no-untyped-def]
    contract(harness)


def test_card_data_typed_into_the_dev_scanner_is_refused_not_echoed(harness: TcpHarness) -> None:
    scanner = harness.make()
    seen = scanner_contract.Collector()
    scanner.start(seen)
    with socket.create_connection(scanner.address, timeout=5) as client:
        client.sendall(b"4111 1111 1111 1111\n")
        reply = client.makefile("rb").readline().decode()
    assert reply.startswith("refused: payment card data")
    assert "4111" not in reply
    assert seen.scans == []
