"""Keyboard-wedge scanners: recorded evdev key events through the real decoding path.

This machine has no /dev/uinput, so the events a scanner's keyboard produces are
replayed (as `evdev.InputEvent`s, with SYN reports and key releases, as `evtest` shows
them) into the same HidScanner/WedgeDecoder the live device feeds.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from evdev import InputEvent, ecodes

from hardware.scanners import UnsupportedScanner, open_scanner
from hardware.scanners.delivery import ScanOptions
from hardware.scanners.hid import HidOptions, HidScanner
from hardware.scanners.keymaps import LAYOUTS
from hardware.scanners.wedge import UnknownLayout, WedgeDecoder
from tests.hardware import scanner_contract

K = ecodes
SHIFT, ALTGR = K.KEY_LEFTSHIFT, K.KEY_RIGHTALT


def press(*keys: int, modifier: int | None = None) -> list[InputEvent]:
    """One keystroke as the kernel reports it: [modifier down] key down/up [modifier up]."""
    events: list[InputEvent] = []
    if modifier is not None:
        events.append(InputEvent(0, 0, K.EV_KEY, modifier, 1))
    for key in keys:
        events += [
            InputEvent(0, 0, K.EV_MSC, K.MSC_SCAN, 0x70000 + key),
            InputEvent(0, 0, K.EV_KEY, key, 1),
            InputEvent(0, 0, K.EV_SYN, K.SYN_REPORT, 0),
            InputEvent(0, 0, K.EV_KEY, key, 0),
            InputEvent(0, 0, K.EV_SYN, K.SYN_REPORT, 0),
        ]
    if modifier is not None:
        events.append(InputEvent(0, 0, K.EV_KEY, modifier, 0))
    return events


ENTER = press(K.KEY_ENTER)

# "EP1:AB2Y" typed by a scanner set to US layout.
US_PASS_CODE = [
    *press(K.KEY_E, modifier=SHIFT), *press(K.KEY_P, modifier=SHIFT), *press(K.KEY_1),
    *press(K.KEY_SEMICOLON, modifier=SHIFT), *press(K.KEY_A, modifier=SHIFT),
    *press(K.KEY_B, modifier=SHIFT), *press(K.KEY_2), *press(K.KEY_Y, modifier=SHIFT), *ENTER,
]  # fmt: skip
# The same code typed by a scanner set to German layout: ':' is Shift+. and Y sits on Z.
DE_PASS_CODE = [
    *press(K.KEY_E, modifier=SHIFT), *press(K.KEY_P, modifier=SHIFT), *press(K.KEY_1),
    *press(K.KEY_DOT, modifier=SHIFT), *press(K.KEY_A, modifier=SHIFT),
    *press(K.KEY_B, modifier=SHIFT), *press(K.KEY_2), *press(K.KEY_Z, modifier=SHIFT), *ENTER,
]  # fmt: skip
# "Größe-7/€" on German: ö and ß have their own keys, / is Shift+7, € is AltGr+E.
DE_TEXT = [
    *press(K.KEY_G, modifier=SHIFT), *press(K.KEY_R), *press(K.KEY_SEMICOLON),
    *press(K.KEY_MINUS), *press(K.KEY_E), *press(K.KEY_SLASH), *press(K.KEY_7),
    *press(K.KEY_7, modifier=SHIFT), *press(K.KEY_E, modifier=ALTGR), *ENTER,
]  # fmt: skip
# "Año-2/ñ@" on Spanish: ñ has its own key, / is Shift+7, @ is AltGr+2.
ES_TEXT = [
    *press(K.KEY_A, modifier=SHIFT), *press(K.KEY_SEMICOLON), *press(K.KEY_O),
    *press(K.KEY_SLASH), *press(K.KEY_2), *press(K.KEY_7, modifier=SHIFT),
    *press(K.KEY_SEMICOLON), *press(K.KEY_2, modifier=ALTGR), *ENTER,
]  # fmt: skip


def decode(layout: str, events: list[InputEvent]) -> list[str]:
    decoder = WedgeDecoder(layout)
    return [text for e in events if (text := decoder.feed(e)) is not None]


@pytest.mark.parametrize(
    ("layout", "events", "expected"),
    [
        ("us", US_PASS_CODE, "EP1:AB2Y"),
        ("de", DE_PASS_CODE, "EP1:AB2Y"),
        ("de", DE_TEXT, "Größe-7/€"),
        ("es", ES_TEXT, "Año-2/ñ@"),
    ],
)
def test_recorded_keystrokes_decode_per_layout(layout: str, events, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert decode(layout, events) == [expected]


def test_wrong_layout_garbles_so_the_layout_setting_matters() -> None:
    assert decode("us", DE_PASS_CODE) == ["EP1>AB2Z"]


def test_caps_lock_and_key_repeat() -> None:
    events = [
        *press(K.KEY_CAPSLOCK), *press(K.KEY_W),
        InputEvent(0, 0, K.EV_KEY, K.KEY_1, 1), InputEvent(0, 0, K.EV_KEY, K.KEY_1, 2),
        InputEvent(0, 0, K.EV_KEY, K.KEY_1, 0), *press(K.KEY_CAPSLOCK), *press(K.KEY_W), *ENTER,
    ]  # fmt: skip
    assert decode("us", events) == ["W1w"]


def test_unknown_layout_refused() -> None:
    with pytest.raises(UnknownLayout, match="use one of: de, es, us"):
        WedgeDecoder("fr")
    with pytest.raises(UnsupportedScanner, match="layout 'fr'"):
        open_scanner("s", "hid:///dev/input/event3?layout=fr")
    with pytest.raises(UnsupportedScanner, match="give the input device"):
        open_scanner("s", "hid://")


class RecordedDevice:
    """An input device whose events are replayed; unplugging it raises ENODEV as evdev does."""

    def __init__(self, harness: HidHarness) -> None:
        self.name = "Honeywell 1900 Keyboard"
        self._harness = harness
        self.grabbed = False

    def grab(self) -> None:
        self.grabbed = True

    def close(self) -> None:
        pass

    def events(self, stop: threading.Event) -> Iterator[InputEvent]:
        while not stop.is_set():
            try:
                item = self._harness.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if item is None:
                raise OSError(19, "No such device")
            yield item


class HidHarness:
    def __init__(self, layout: str = "us") -> None:
        self.layout = layout
        self.events: queue.Queue[InputEvent | None] = queue.Queue()
        self.present = True
        self.devices: list[RecordedDevice] = []
        self.scanners: list[HidScanner] = []

    def open(self, options: HidOptions) -> RecordedDevice:
        if not self.present:
            raise FileNotFoundError(2, "No such file or directory", options.path)
        device = RecordedDevice(self)
        self.devices.append(device)
        return device

    def make(self, prefix: str = "", suffix: str = "") -> HidScanner:
        options = HidOptions(path="/dev/input/by-id/usb-scanner-event-kbd", layout=self.layout)
        scanner = HidScanner("wedge", options, ScanOptions(prefix, suffix), opener=self.open)
        self.scanners.append(scanner)
        return scanner

    def emit(self, text: str) -> None:
        for event in type_text(text, self.layout):
            self.events.put(event)

    def unplug(self) -> None:
        self.present = False
        self.events.put(None)

    def replug(self) -> None:
        self.present = True


def type_text(text: str, layout: str) -> list[InputEvent]:
    """Keystrokes a scanner in `layout` sends for `text` (for the contract's codes)."""
    reverse: dict[str, list[InputEvent]] = {}
    for code, (plain, shifted, _altgr) in LAYOUTS[layout].items():
        if code in (K.KEY_KP0, K.KEY_KP1, K.KEY_KP2, K.KEY_KP3, K.KEY_KP4, K.KEY_KP5):
            continue
        reverse.setdefault(plain, press(code))
        reverse.setdefault(shifted, press(code, modifier=SHIFT))
    events = [e for char in text for e in reverse[char]]
    return events + ENTER


@pytest.fixture
def harness() -> Iterator[HidHarness]:
    h = HidHarness()
    yield h
    for scanner in h.scanners:
        scanner.stop()


@pytest.mark.parametrize("contract", scanner_contract.CONTRACT, ids=lambda f: f.__name__)
def test_hid_scanner_contract(harness: HidHarness, contract) -> None:  # type: ignore[no-untyped-def]
    contract(harness)


def test_device_is_grabbed_so_scans_do_not_type_elsewhere(harness: HidHarness) -> None:
    scanner = harness.make()
    scanner.start(scanner_contract.Collector())
    assert scanner_contract.wait_for(lambda: scanner.status()["connected"])
    assert harness.devices[0].grabbed


def test_german_scanner_end_to_end(harness: HidHarness) -> None:
    harness.layout = "de"
    scanner = harness.make()
    sink = scanner_contract.Collector()
    scanner.start(sink)
    for event in DE_PASS_CODE:
        harness.events.put(event)
    assert scanner_contract.wait_for(lambda: sink.data() == ["EP1:AB2Y"])
    assert scanner.status()["layout"] == "de"


def test_real_evdev_opener_reports_a_missing_device(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The live path (evdev.InputDevice) on a device node that is not there: the scanner
    # keeps looking and says why, as it would for an unplugged wedge scanner.
    scanner = open_scanner("wedge", f"hid://{tmp_path}/event-kbd?layout=es")
    scanner.start(scanner_contract.Collector())
    try:
        assert scanner_contract.wait_for(lambda: scanner.status()["state"] == "disconnected")
        assert "event-kbd" in str(scanner.status()["last_error"])
    finally:
        scanner.stop()
    by_name = open_scanner("wedge2", "hid://?name=No%20Such%20Scanner")
    by_name.start(scanner_contract.Collector())
    try:
        assert scanner_contract.wait_for(lambda: by_name.status()["state"] == "disconnected")
        assert "No Such Scanner" in str(by_name.status()["last_error"])
    finally:
        by_name.stop()


@pytest.mark.parametrize("layout", ["us", "de", "es"])
def test_ctrl_bracket_is_the_gs1_group_separator(layout: str) -> None:
    from hardware.gs1 import read_product_code
    from hardware.scan import Scan

    digits = [getattr(K, f"KEY_{d}") for d in "0104006381333931"]
    events = [
        *press(*digits),
        *press(K.KEY_RIGHTBRACE, modifier=K.KEY_LEFTCTRL),
        *press(K.KEY_1, K.KEY_0, K.KEY_4, K.KEY_2),
        *ENTER,
    ]
    [text] = decode(layout, events)
    assert text == "0104006381333931\x1d1042"
    scan = Scan(text, None, "wedge", datetime(2026, 11, 24, tzinfo=UTC))
    code = read_product_code(scan.data, scan.symbology)
    assert code is not None and code.elements == (("01", "04006381333931"), ("10", "42"))
