"""Receipt printer backends, chosen from config by URL; each takes ESC/POS bytes.

    tcp://192.0.2.10:9100                 network printer (python-escpos Network)
    serial:///dev/ttyUSB0?baudrate=19200  serial printer (python-escpos Serial)
    file:///dev/usb/lp0                   device file (python-escpos File)
    usb://04b8:0202                       USB vendor:product (python-escpos Usb, needs pyusb)
    preview://var/preview                 PNG of exactly what would print (relative: data dir)

Every backend offers `send(data, label)`, `query_status()`, `close()` and `describe()`;
the print queue in edge_agent owns retrying and never needs to know which one it has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from hardware.printers.errors import PrinterError, PrinterUnavailable, UnsupportedPrinter
from hardware.printers.status import PrinterStatus

PRINTER_SCHEMES = ("preview", "file", "tcp", "serial", "usb")
# Dots across the printable width: 58 mm heads print 384 dots, 80 mm heads 512 (180 dpi)
# or 576 (203 dpi); the preview uses the narrower common value so nothing is flattered.
WIDTH_DOTS = {58: 384, 80: 512}
DEFAULT_PROFILE = "TM-T88V"

__all__ = [
    "PRINTER_SCHEMES",
    "Printer",
    "PrinterError",
    "PrinterStatus",
    "PrinterUnavailable",
    "UnsupportedPrinter",
    "check_printer_profile",
    "check_printer_url",
    "code_pages",
    "open_printer",
]


class Printer(Protocol):
    id: str
    kind: str

    def send(self, data: bytes, label: str = "") -> None: ...
    def query_status(self) -> PrinterStatus: ...
    def close(self) -> None: ...
    def describe(self) -> dict[str, object]: ...


def open_printer(
    printer_id: str,
    url: str,
    profile: str = DEFAULT_PROFILE,
    paper_width_mm: int = 80,
    base_dir: Path | None = None,
) -> Printer:
    """A backend for `url` (nothing is connected until the first send or status query)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    path = unquote(parts.path)
    if parts.scheme == "tcp":
        from hardware.printers.tcp import NetworkPrinter

        try:
            port = parts.port or 9100
        except ValueError:
            raise UnsupportedPrinter(f"{url}: the port must be a number") from None
        if not parts.hostname:
            raise UnsupportedPrinter(f"{url}: a network printer needs tcp://HOST:PORT")
        return NetworkPrinter(printer_id, parts.hostname, port)
    if parts.scheme == "serial":
        from hardware.printers.serial import SerialPrinter

        if not path:
            raise UnsupportedPrinter(f"{url}: a serial printer needs serial:///dev/ttyUSB0")
        baudrate = query.get("baudrate", "19200")
        if not baudrate.isdigit():
            raise UnsupportedPrinter(f"{url}: baudrate must be a number (got '{baudrate}')")
        return SerialPrinter(printer_id, path, int(baudrate))
    if parts.scheme == "file":
        from hardware.printers.file import FilePrinter

        if not path:
            raise UnsupportedPrinter(f"{url}: a device-file printer needs file:///dev/usb/lp0")
        return FilePrinter(printer_id, path)
    if parts.scheme == "usb":
        from hardware.printers.usb import UsbPrinter

        vendor, _, product = (parts.netloc or path.strip("/")).partition(":")
        try:
            return UsbPrinter(printer_id, int(vendor, 16), int(product, 16))
        except ValueError:
            raise UnsupportedPrinter(
                f"{url}: a USB printer needs usb://VENDOR:PRODUCT in hex, e.g. usb://04b8:0202"
            ) from None
    if parts.scheme == "preview":
        from hardware.printers.preview import PreviewPrinter

        directory = Path(parts.netloc + path)
        if not str(directory) or str(directory) == ".":
            raise UnsupportedPrinter(f"{url}: a preview printer needs a directory, preview://DIR")
        if not directory.is_absolute() and base_dir is not None:
            directory = base_dir / directory
        return PreviewPrinter(
            printer_id, directory, WIDTH_DOTS.get(paper_width_mm, 512), code_pages(profile)
        )
    raise UnsupportedPrinter(
        f"{url}: no printer backend for scheme '{parts.scheme}'; supported: "
        + ", ".join(f"{s}://" for s in PRINTER_SCHEMES)
    )


def check_printer_url(url: str) -> None:
    """Raise UnsupportedPrinter if `url` is not usable (connects to nothing)."""
    open_printer("check", url)


def check_printer_profile(name: str) -> None:
    from hardware.printers.escpos_lib import known_profiles

    if name not in known_profiles():
        raise UnsupportedPrinter(
            f"'{name}' is not a python-escpos printer profile; e.g. TM-T88V, TM-T20II, "
            "ZJ-5870, RP-F10-58mm (`python -m escpos.cli showcapabilities` lists them)"
        )


def code_pages(profile: str) -> dict[int, str]:
    """ESC t number -> code page name for `profile`."""
    from hardware.printers.escpos_lib import capabilities

    pages = capabilities.get_profile(profile).codePages
    return {int(number): name for number, name in pages.items()}
