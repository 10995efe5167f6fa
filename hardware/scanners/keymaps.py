"""Keyboard layouts for keyboard-wedge scanners: evdev key code -> characters.

A wedge scanner "types" each character as the key that produces it on the layout it was
configured for, so the agent must decode with the same layout: on a German scanner the
key US calls Y types Z. Each entry is (plain, with Shift, with AltGr); "" means nothing.
"""

from __future__ import annotations

from evdev import ecodes

Keymap = dict[int, tuple[str, str, str]]


def _letters(swap_yz: bool = False) -> Keymap:
    keys: Keymap = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        keys[ecodes.ecodes[f"KEY_{letter.upper()}"]] = (letter, letter.upper(), "")
    if swap_yz:
        keys[ecodes.KEY_Y], keys[ecodes.KEY_Z] = keys[ecodes.KEY_Z], keys[ecodes.KEY_Y]
    return keys


def _row(pairs: dict[str, tuple[str, str, str]]) -> Keymap:
    return {ecodes.ecodes[f"KEY_{name}"]: chars for name, chars in pairs.items()}


_DIGIT_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")
_KEYPAD = _row({f"KP{d}": (d, d, "") for d in _DIGIT_KEYS}) | _row(
    {
        "KPMINUS": ("-", "-", ""),
        "KPPLUS": ("+", "+", ""),
        "KPASTERISK": ("*", "*", ""),
        "KPSLASH": ("/", "/", ""),
        "KPDOT": (".", ".", ""),
        "SPACE": (" ", " ", ""),
    }
)

US: Keymap = (
    _letters()
    | _row(
        {
            d: (d, s, "")
            for d, s in zip(
                _DIGIT_KEYS, ("!", "@", "#", "$", "%", "^", "&", "*", "(", ")"), strict=True
            )
        }
    )
    | _row(
        {
            "MINUS": ("-", "_", ""),
            "EQUAL": ("=", "+", ""),
            "LEFTBRACE": ("[", "{", ""),
            "RIGHTBRACE": ("]", "}", ""),
            "SEMICOLON": (";", ":", ""),
            "APOSTROPHE": ("'", '"', ""),
            "GRAVE": ("`", "~", ""),
            "BACKSLASH": ("\\", "|", ""),
            "COMMA": (",", "<", ""),
            "DOT": (".", ">", ""),
            "SLASH": ("/", "?", ""),
        }
    )
    | _KEYPAD
)

# German QWERTZ (de): Y/Z swapped, symbols on other keys, umlauts and ß, AltGr for @ [ ] { }.
DE: Keymap = (
    _letters(swap_yz=True)
    | _row(
        {
            "1": ("1", "!", ""),
            "2": ("2", '"', "²"),
            "3": ("3", "§", "³"),
            "4": ("4", "$", ""),
            "5": ("5", "%", ""),
            "6": ("6", "&", ""),
            "7": ("7", "/", "{"),
            "8": ("8", "(", "["),
            "9": ("9", ")", "]"),
            "0": ("0", "=", "}"),
            "MINUS": ("ß", "?", "\\"),
            "EQUAL": ("\u00b4", "`", ""),
            "LEFTBRACE": ("ü", "Ü", ""),
            "RIGHTBRACE": ("+", "*", "~"),
            "SEMICOLON": ("ö", "Ö", ""),
            "APOSTROPHE": ("ä", "Ä", ""),
            "GRAVE": ("^", "°", ""),
            "BACKSLASH": ("#", "'", ""),
            "102ND": ("<", ">", "|"),
            "COMMA": (",", ";", ""),
            "DOT": (".", ":", ""),
            "SLASH": ("-", "_", ""),
        }
    )
    | _row({"Q": ("q", "Q", "@"), "E": ("e", "E", "€")})
    | _KEYPAD
)

# Spanish (es): QWERTY letters, ñ, symbols moved, AltGr for @ # [ ] { }.
ES: Keymap = (
    _letters()
    | _row(
        {
            "1": ("1", "!", "|"),
            "2": ("2", '"', "@"),
            "3": ("3", "·", "#"),
            "4": ("4", "$", "~"),
            "5": ("5", "%", ""),
            "6": ("6", "&", "¬"),
            "7": ("7", "/", ""),
            "8": ("8", "(", ""),
            "9": ("9", ")", ""),
            "0": ("0", "=", ""),
            "MINUS": ("'", "?", ""),
            "EQUAL": ("¡", "¿", ""),
            "LEFTBRACE": ("`", "^", "["),
            "RIGHTBRACE": ("+", "*", "]"),
            "SEMICOLON": ("ñ", "Ñ", ""),
            "APOSTROPHE": ("\u00b4", "¨", "{"),
            "GRAVE": ("º", "ª", "\\"),
            "BACKSLASH": ("ç", "Ç", "}"),
            "102ND": ("<", ">", ""),
            "COMMA": (",", ";", ""),
            "DOT": (".", ":", ""),
            "SLASH": ("-", "_", ""),
        }
    )
    | _row({"E": ("e", "E", "€")})
    | _KEYPAD
)

LAYOUTS: dict[str, Keymap] = {"us": US, "de": DE, "es": ES}
