"""HID keyboard-wedge scanners via evdev (the most common kind).

The device is grabbed, so scans do not also type into whatever window has focus; key
events go through `WedgeDecoder` in the configured layout. The device is named by path
(`/dev/input/by-id/...`, stable across re-plugging) or by the name it reports. When it
is unplugged the reader waits for it to come back.
"""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from evdev import InputDevice, InputEvent, list_devices

from hardware.scanners.delivery import ScanOptions
from hardware.scanners.threaded import ThreadedScanner
from hardware.scanners.wedge import WedgeDecoder

log = logging.getLogger(__name__)
REOPEN_INTERVAL_SECONDS = 0.25
READ_SLICE_SECONDS = 0.1


@dataclass(frozen=True)
class HidOptions:
    path: str = ""  # /dev/input/by-id/...-event-kbd
    name: str = ""  # or the device name evdev reports, e.g. "Honeywell Scanner"
    layout: str = "us"
    grab: bool = True


class EventDevice(Protocol):
    """The part of evdev's InputDevice the scanner uses."""

    name: str

    def grab(self) -> None: ...
    def close(self) -> None: ...
    def events(self, stop: threading.Event) -> Iterator[InputEvent]: ...


DeviceOpener = Callable[[HidOptions], EventDevice]


class HidScanner(ThreadedScanner):
    kind = "hid"

    def __init__(
        self,
        scanner_id: str,
        options: HidOptions,
        scan: ScanOptions,
        opener: DeviceOpener | None = None,
    ) -> None:
        super().__init__(scanner_id, scan)
        self.options = options
        self._open_device = opener or open_evdev
        WedgeDecoder(options.layout)  # refuse an unknown layout before starting
        self.device_name: str | None = None

    def _describe(self) -> dict[str, object]:
        return {"device": self.options.path or self.options.name, "layout": self.options.layout}

    def _run(self) -> None:
        ever_connected = False
        while not self._stop.is_set():
            try:
                device = self._open_device(self.options)
                if self.options.grab:
                    device.grab()
            except OSError as exc:
                self._state, self._last_error = "disconnected", str(exc)
                self._stop.wait(REOPEN_INTERVAL_SECONDS)
                continue
            if ever_connected:
                self.reconnects += 1
            ever_connected = True
            self.device_name = device.name
            self._state, self._last_error = "connected", None
            # A scan cut off by the unplug is not finished by the next device's Enter.
            decoder = WedgeDecoder(self.options.layout)
            try:
                for event in device.events(self._stop):
                    text = decoder.feed(event)
                    if text is not None and self._delivery is not None:
                        self._delivery.deliver(text)
            except OSError as exc:
                self._last_error = str(exc)
                log.warning("scanner %s went away: %s", self.id, exc)
            finally:
                device.close()
            if not self._stop.is_set():
                self._state = "disconnected"


class _EvdevDevice:
    """A live evdev InputDevice, read in slices so stop() is honoured."""

    def __init__(self, device: InputDevice[Any]) -> None:
        self._device = device
        self.name = device.name

    def grab(self) -> None:
        self._device.grab()

    def close(self) -> None:
        self._device.close()

    def events(self, stop: threading.Event) -> Iterator[InputEvent]:
        while not stop.is_set():
            ready, _, _ = select.select([self._device.fd], [], [], READ_SLICE_SECONDS)
            if ready:
                yield from self._device.read()


def open_evdev(options: HidOptions) -> EventDevice:
    """Open the configured input device; OSError if it is not there (yet)."""
    if options.path:
        return _EvdevDevice(InputDevice(options.path))
    for path in list_devices():
        device = InputDevice(path)
        if device.name == options.name:
            return _EvdevDevice(device)
        device.close()
    raise FileNotFoundError(f"no input device named '{options.name}'")
