"""Scanner backends, chosen from config by URL; each turns reads into `Scan`s for a sink."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import urlsplit

from hardware.scan import ScanSink


class ScanSource(Protocol):
    id: str

    def start(self, sink: ScanSink) -> None: ...
    def stop(self) -> None: ...
    def status(self) -> dict[str, object]: ...


class UnsupportedScanner(ValueError):
    pass


def open_scanner(scanner_id: str, url: str) -> ScanSource:
    """A backend for `url` (`tcp://host:port` today), not yet started."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        from hardware.scanners.tcp import TcpScanner

        if parts.hostname is None or parts.port is None:
            raise UnsupportedScanner(f"{url}: a TCP scanner needs tcp://HOST:PORT")
        return TcpScanner(scanner_id, parts.hostname, parts.port)
    raise UnsupportedScanner(f"{url}: no scanner backend for scheme '{parts.scheme}'")
