"""USB printers addressed by vendor and product id via python-escpos `Usb` (pyusb).

pyusb is optional: stores with network or serial printers do not need libusb."""

from __future__ import annotations

from typing import Any

from hardware.printers.errors import UnsupportedPrinter
from hardware.printers.escpos_lib import printer
from hardware.printers.transport import EscposTransport

# Read timeout for status answers, in milliseconds as pyusb counts.
USB_TIMEOUT_MS = 500


class UsbPrinter(EscposTransport):
    kind = "usb"
    reports_status = True

    def __init__(self, printer_id: str, vendor_id: int, product_id: int) -> None:
        super().__init__(printer_id, f"{vendor_id:04x}:{product_id:04x}")
        self.vendor_id, self.product_id = vendor_id, product_id

    def _make_device(self) -> Any:
        if not usb_available():
            raise UnsupportedPrinter(
                "USB printers need pyusb and libusb: pip install pyusb, apt install libusb-1.0-0"
            )
        return printer.Usb(self.vendor_id, self.product_id, timeout=USB_TIMEOUT_MS)


def usb_available() -> bool:
    try:
        import usb.core  # noqa: F401
    except ImportError:
        return False
    return True
