"""Scanner backends, chosen from config by URL; each turns reads into `Scan`s for a sink.

    tcp://127.0.0.1:9300                               development scanner (one line, one scan)
    serial:///dev/ttyACM0?baudrate=9600&terminator=CR  pyserial; parity N/E/O, terminator
                                                       CR/LF/CRLF/NONE (+ gap_ms)
    hid:///dev/input/by-id/usb-X-event-kbd?layout=de   evdev keyboard wedge, grabbed
    hid://?name=Honeywell%20Scanner&layout=us          ... or found by device name

Every scheme takes `prefix=` and `suffix=` (stripped from each read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from hardware.scan import ScanSink
from hardware.scanners.delivery import ScanOptions

if TYPE_CHECKING:
    from hardware.scanners.serial import SerialOptions

SCANNER_SCHEMES = ("tcp", "serial", "hid")


class ScanSource(Protocol):
    id: str

    def start(self, sink: ScanSink) -> None: ...
    def stop(self) -> None: ...
    def status(self) -> dict[str, object]: ...


class UnsupportedScanner(ValueError):
    pass


def open_scanner(scanner_id: str, url: str) -> ScanSource:
    """A backend for `url`, not yet started; UnsupportedScanner says what is wrong."""
    parts = urlsplit(url)
    query = _query(url, parts.query)
    scan = ScanOptions(prefix=query.pop("prefix", ""), suffix=query.pop("suffix", ""))
    if parts.scheme == "tcp":
        from hardware.scanners.tcp import TcpScanner

        _no_extra(url, query, ())
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.hostname is None or port is None:
            raise UnsupportedScanner(f"{url}: a TCP scanner needs tcp://HOST:PORT")
        return TcpScanner(scanner_id, parts.hostname, port, scan)
    if parts.scheme == "serial":
        from hardware.scanners.serial import SerialScanner

        return SerialScanner(scanner_id, _serial_options(url, parts.path, query), scan)
    if parts.scheme == "hid":
        from hardware.scanners.hid import HidOptions, HidScanner
        from hardware.scanners.keymaps import LAYOUTS

        _no_extra(url, query, ("layout", "grab", "name"))
        path = unquote(parts.path)
        name = query.get("name", "")
        if bool(path) == bool(name):
            raise UnsupportedScanner(
                f"{url}: give the input device as hid:///dev/input/by-id/... or hid://?name=..."
            )
        layout = query.get("layout", "us").lower()
        if layout not in LAYOUTS:
            raise UnsupportedScanner(
                f"{url}: keyboard layout '{layout}' is not supported; use "
                + ", ".join(sorted(LAYOUTS))
            )
        grab = _flag(url, "grab", query.get("grab", "1"))
        return HidScanner(scanner_id, HidOptions(path, name, layout, grab), scan)
    raise UnsupportedScanner(
        f"{url}: no scanner backend for scheme '{parts.scheme}'; supported: "
        + ", ".join(f"{s}://" for s in SCANNER_SCHEMES)
    )


def check_scanner_url(url: str) -> None:
    """Raise UnsupportedScanner if `url` could not be opened as configured (opens nothing)."""
    open_scanner("check", url)


def _serial_options(url: str, path: str, query: dict[str, str]) -> SerialOptions:
    from hardware.scanners.serial import PARITIES, TERMINATORS, SerialOptions

    _no_extra(
        url,
        query,
        ("baudrate", "parity", "bytesize", "stopbits", "terminator", "gap_ms", "encoding"),
    )
    if not path:
        raise UnsupportedScanner(f"{url}: a serial scanner needs a device, serial:///dev/ttyACM0")
    terminator = query.get("terminator", "CR").upper()
    if terminator not in TERMINATORS:
        raise UnsupportedScanner(
            f"{url}: terminator '{terminator}' is not one of " + ", ".join(TERMINATORS)
        )
    parity = query.get("parity", "N").upper()
    if parity not in PARITIES:
        raise UnsupportedScanner(f"{url}: parity '{parity}' is not one of N, E, O")
    encoding = query.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except LookupError:
        raise UnsupportedScanner(f"{url}: '{encoding}' is not a text encoding") from None
    return SerialOptions(
        port=unquote(path),
        baudrate=_int(url, query, "baudrate", 9600, (50, 4_000_000)),
        parity=parity,
        bytesize=_int(url, query, "bytesize", 8, (5, 8)),
        stopbits=_int(url, query, "stopbits", 1, (1, 2)),
        terminator=terminator,
        gap_ms=_int(url, query, "gap_ms", 50, (5, 5000)),
        encoding=encoding,
    )


def _query(url: str, raw: str) -> dict[str, str]:
    parsed = parse_qs(raw, keep_blank_values=True)
    repeated = [k for k, v in parsed.items() if len(v) > 1]
    if repeated:
        raise UnsupportedScanner(f"{url}: option given twice: {', '.join(repeated)}")
    return {k: v[0] for k, v in parsed.items()}


def _no_extra(url: str, query: dict[str, str], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(query) - set(allowed))
    if unknown:
        allowed_text = ", ".join((*allowed, "prefix", "suffix"))
        raise UnsupportedScanner(
            f"{url}: unknown option {', '.join(unknown)} (allowed: {allowed_text})"
        )


def _int(url: str, query: dict[str, str], key: str, default: int, bounds: tuple[int, int]) -> int:
    raw = query.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UnsupportedScanner(f"{url}: {key} must be a whole number (got '{raw}')") from None
    low, high = bounds
    if not low <= value <= high:
        raise UnsupportedScanner(f"{url}: {key} must be between {low} and {high} (got {value})")
    return value


def _flag(url: str, key: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise UnsupportedScanner(f"{url}: {key} must be 1 or 0 (got '{raw}')")
