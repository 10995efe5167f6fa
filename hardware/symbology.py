"""AIM symbology identifiers (ISO/IEC 15424): the "]Cm" prefix a scanner can put before
the data to say which kind of barcode it read."""

from __future__ import annotations

import re

# GS1's separator between variable-length element strings: FNC1, sent as ASCII 29 (GS).
GROUP_SEPARATOR = "\x1d"
# "]" + symbology code character + modifier character.
_AIM_PREFIX = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
# Identifiers whose data is a GS1 element string (FNC1 in first position).
GS1_SYMBOLOGIES = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
NAMES = {
    "]E0": "EAN-13 / UPC-A",
    "]E4": "EAN-8",
    "]C0": "Code 128",
    "]C1": "GS1-128",
    "]A0": "Code 39",
    "]Q1": "QR Code",
    "]Q3": "GS1 QR Code",
    "]d1": "Data Matrix",
    "]d2": "GS1 DataMatrix",
    "]e0": "GS1 DataBar",
    "]L2": "PDF417",
}


def split_symbology(text: str) -> tuple[str | None, str]:
    """(identifier or None, data without it)."""
    match = _AIM_PREFIX.match(text)
    if match is None:
        return None, text
    return match.group(0), text[match.end() :]


def is_gs1(symbology: str | None) -> bool:
    return symbology in GS1_SYMBOLOGIES
