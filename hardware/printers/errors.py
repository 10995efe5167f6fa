"""Named printer errors with a stable code and a sentence a cashier can act on."""

from __future__ import annotations


class PrinterError(Exception):
    code = "printer_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedPrinter(PrinterError, ValueError):
    """The printer URL or profile in the config cannot be used."""

    code = "printer_config_invalid"


class PrinterUnavailable(PrinterError):
    """The printer could not take the job.

    `maybe_printed` is True when bytes may already have reached the printer (the link
    broke mid-send): the caller must not silently send the whole receipt again.
    """

    code = "printer_unavailable"

    def __init__(self, message: str, maybe_printed: bool = False) -> None:
        super().__init__(message)
        self.maybe_printed = maybe_printed
