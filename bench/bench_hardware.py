"""Hardware benchmarks, each as a ratio against a reference measured in the same run.

1. Scan overhead: bytes written to a real pseudo-terminal -> `Scan` delivered by the serial
   scanner backend, p50/p99, against the time the same bytes take on a 9600-baud wire
   (10 bits a byte: start, 8 data, stop). Target: p99 <= 0.1 of wire time.
2. Receipt rendering (layout -> ESC/POS bytes, and bytes -> preview PNG) per receipt,
   against the time a 300 mm/s thermal printer takes to print that receipt.

    .venv/bin/python -m bench.bench_hardware [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
import tty
from pathlib import Path

import qrcode

from bench.stats import percentile, report
from hardware.printers import code_pages
from hardware.printers.escpos_image import render_png
from hardware.receipts import render_receipt
from hardware.scan import Scan
from hardware.scanners import open_scanner
from tests.hardware.receipts_data import ALL

BAUD = 9600
BITS_PER_BYTE = 10
PRINT_SPEED_MM_S = 300
# ESC/POS default line spacing is 1/6 inch; a 180-dpi head prints 7.09 dots a millimetre.
LINE_MM = 25.4 / 6
DOTS_PER_MM = 180 / 25.4
QR_MODULE_DOTS = 6
FEED_AND_CUT_MM = 6 * LINE_MM  # ESC d 6 before the cut


def bench_scan_overhead(scans: int) -> list[str]:
    code = b"]E04006381333931\r"
    wire_seconds = len(code) * BITS_PER_BYTE / BAUD
    delivered: list[float] = []
    arrived = threading.Semaphore(0)

    def sink(_scan: Scan) -> None:
        delivered.append(time.perf_counter())
        arrived.release()

    with tempfile.TemporaryDirectory() as tmp:
        master, slave = os.openpty()
        tty.setraw(slave)
        link = Path(tmp) / "ttyACM0"
        link.symlink_to(os.ttyname(slave))
        scanner = open_scanner("bench", f"serial://{link}?baudrate={BAUD}&terminator=CR")
        scanner.start(sink)
        try:
            deadline = time.monotonic() + 5
            while not scanner.status()["connected"] and time.monotonic() < deadline:
                time.sleep(0.01)
            latencies = []
            for _ in range(scans):
                written = time.perf_counter()
                os.write(master, code)
                if not arrived.acquire(timeout=5):
                    raise RuntimeError("a scan was not delivered")
                latencies.append(delivered[-1] - written)
                time.sleep(0.002)  # a cashier does not scan back to back with zero gap
        finally:
            scanner.stop()
            os.close(master)
            os.close(slave)
    ms = [x * 1000 for x in latencies]
    wire_ms = wire_seconds * 1000
    return [
        report("scan pty->Scan p50 vs 9600-baud wire", percentile(ms, 50), wire_ms, "ms"),
        report("scan pty->Scan p99 vs 9600-baud wire", percentile(ms, 99), wire_ms, "ms"),
        f"  ({scans} scans of {len(code)} bytes; p99 ratio "
        f"{percentile(ms, 99) / wire_ms:.4f}, target <= 0.10)",
    ]


def bench_receipts(rounds: int) -> list[str]:
    lines = []
    pages = code_pages("TM-T88V")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("return", "pickup", "coupon"):
            receipt = ALL[name]
            render_times, png_times = [], []
            data = b""
            for i in range(rounds):
                start = time.perf_counter()
                data = render_receipt(receipt, "TM-T88V", 80)
                render_times.append(time.perf_counter() - start)
                start = time.perf_counter()
                result = render_png(data, 512, pages, Path(tmp) / f"{name}-{i}.png")
                png_times.append(time.perf_counter() - start)
            print_ms = _print_seconds(result.lines, result.qr_codes) * 1000
            lines.append(
                report(
                    f"{name}: render ESC/POS vs print at 300 mm/s",
                    statistics.median(render_times) * 1000,
                    print_ms,
                    "ms",
                )
            )
            lines.append(
                report(
                    f"{name}: preview PNG vs print at 300 mm/s",
                    statistics.median(png_times) * 1000,
                    print_ms,
                    "ms",
                )
            )
    return lines


def _print_seconds(text_lines: tuple[str, ...], qr_codes: tuple[str, ...]) -> float:
    """Paper length of the receipt / print speed: text lines at the default spacing,
    each QR code at its module size, the feed before the cut."""
    length_mm = len(text_lines) * LINE_MM + FEED_AND_CUT_MM
    for content in qr_codes:
        code = qrcode.QRCode(border=0)
        code.add_data(content)
        code.make(fit=True)
        modules = code.modules_count
        length_mm += modules * QR_MODULE_DOTS / DOTS_PER_MM
    return length_mm / PRINT_SPEED_MM_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (fewer samples)")
    args = parser.parse_args()
    scans = 200 if args.quick else 2000
    rounds = 20 if args.quick else 200
    for line in bench_scan_overhead(scans):
        print(line)
    for line in bench_receipts(rounds):
        print(line)


if __name__ == "__main__":
    main()
