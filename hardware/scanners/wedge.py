"""Decode a keyboard-wedge scanner's key events into text, one scan per Enter.

This is the code path the HID backend runs on live evdev events, and the one the tests
replay recorded `InputEvent` sequences through.
"""

from __future__ import annotations

from evdev import InputEvent, ecodes

from hardware.scan import MAX_SCAN_CHARS
from hardware.scanners.keymaps import LAYOUTS
from hardware.symbology import GROUP_SEPARATOR

KEY_UP, KEY_DOWN, KEY_HOLD = 0, 1, 2
_SHIFTS = {ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT}
_ALTGR = {ecodes.KEY_RIGHTALT}
_CTRLS = {ecodes.KEY_LEFTCTRL, ecodes.KEY_RIGHTCTRL}
# Scanners in keyboard mode send GS1's FNC1 separator (ASCII 29) as Ctrl+] on the key
# US layouts call ]; it must survive so GS1 element strings can be split.
_ENTERS = {ecodes.KEY_ENTER, ecodes.KEY_KPENTER}


class UnknownLayout(ValueError):
    pass


class WedgeDecoder:
    """Feed it every event from one device; it returns the text of a scan on Enter."""

    def __init__(self, layout: str) -> None:
        if layout not in LAYOUTS:
            raise UnknownLayout(
                f"keyboard layout '{layout}' is not supported; use one of: "
                + ", ".join(sorted(LAYOUTS))
            )
        self.layout = layout
        self._keys = LAYOUTS[layout]
        self._held: set[int] = set()
        self._caps_lock = False
        self._chars: list[str] = []
        self.unmapped_keys = 0

    def feed(self, event: InputEvent) -> str | None:
        if event.type != ecodes.EV_KEY:
            return None
        code, value = event.code, event.value
        if value == KEY_UP:
            self._held.discard(code)
            return None
        if value != KEY_DOWN:
            return None  # auto-repeat: scanners do not hold keys, people leaning on them do
        self._held.add(code)
        if code in _ENTERS:
            text, self._chars = "".join(self._chars), []
            return text
        if code == ecodes.KEY_CAPSLOCK:
            self._caps_lock = not self._caps_lock
            return None
        if self._held & _CTRLS:
            if code == ecodes.KEY_RIGHTBRACE:
                self._chars.append(GROUP_SEPARATOR)
            return None  # other control chords are not characters
        chars = self._keys.get(code)
        if chars is None:
            if code not in _SHIFTS and code not in _ALTGR and code not in _CTRLS:
                self.unmapped_keys += 1
            return None
        plain, shifted, altgr = chars
        shift = bool(self._held & _SHIFTS)
        if self._held & _ALTGR:
            char = altgr
        else:
            if self._caps_lock and plain.isalpha():
                shift = not shift
            char = shifted if shift else plain
        if char and len(self._chars) <= MAX_SCAN_CHARS:
            self._chars.append(char)
        return None
