"""The contract every printer backend passes (Home Assistant's `help_test_*` pattern).

A harness gives a backend (`make()`), what the device received (`received()`), and can
take the device away and give it back (`remove()`, `restore()`).
"""

from __future__ import annotations

from typing import Protocol

import pytest

from hardware.printers import Printer, PrinterUnavailable
from hardware.receipts import ShoppingList, StoreHeader, render_receipt
from tests.hardware.fakes import strip_status_queries, wait_for

RECEIPT = render_receipt(
    ShoppingList(
        StoreHeader("Tienda Sol", locale="es_ES"),
        "Lista de la compra",
        __import__("datetime").datetime(2026, 11, 24, 9, 0, tzinfo=__import__("datetime").UTC),
        ("Café molido", "Jamón", "Crème brûlée"),
    )
)


class PrinterHarness(Protocol):
    def make(self) -> Printer: ...
    def received(self) -> bytes: ...
    def remove(self) -> None: ...
    def restore(self) -> None: ...


def help_test_send_delivers_every_byte(harness: PrinterHarness) -> None:
    printer = harness.make()
    try:
        printer.send(RECEIPT, label="contract")
        assert wait_for(lambda: strip_status_queries(harness.received()) == RECEIPT)
    finally:
        printer.close()


def help_test_status_when_present(harness: PrinterHarness) -> None:
    printer = harness.make()
    try:
        status = printer.query_status()
        assert status.reachable and status.ready
        assert printer.describe()["status"]["ready"] is True
    finally:
        printer.close()


def help_test_missing_device_is_unavailable_not_printed(harness: PrinterHarness) -> None:
    printer = harness.make()
    harness.remove()
    try:
        status = printer.query_status()
        assert not status.reachable and not status.ready
        assert status.problem
        with pytest.raises(PrinterUnavailable) as caught:
            printer.send(RECEIPT)
        assert caught.value.maybe_printed is False
        harness.restore()
        printer.send(RECEIPT)
        assert wait_for(lambda: strip_status_queries(harness.received()) == RECEIPT)
    finally:
        printer.close()


def help_test_close_is_idempotent_and_send_reopens(harness: PrinterHarness) -> None:
    printer = harness.make()
    printer.send(b"\x1b@one\n")
    printer.close()
    printer.close()
    printer.send(b"\x1b@two\n")
    printer.close()
    assert wait_for(lambda: strip_status_queries(harness.received()) == b"\x1b@one\n\x1b@two\n")


CONTRACT = (
    help_test_send_delivers_every_byte,
    help_test_status_when_present,
    help_test_missing_device_is_unavailable_not_printed,
    help_test_close_is_idempotent_and_send_reopens,
)
