"""A receipt being written: text, columns, QR and cut, as ESC/POS bytes.

Built on python-escpos's `Dummy` printer, which collects the bytes a real printer would
get: the printer profile supplies the code pages and the columns a line may use, so a
layout cannot overrun the paper, and QR codes are sent natively (GS ( k).
"""

from __future__ import annotations

# Code pages that hold every Western European letter and the euro sign, best first.
# CP858 is CP850 with €; CP1252 is what cheaper 58 mm printers offer instead.
PREFERRED_CODE_PAGES = ("CP858", "CP1252", "ISO_8859-15")
# Font A columns: 58 mm paper has 384 dots, 12 dots a character.
COLUMNS_58_MM = 32
QR_MODULE_DOTS = {58: 5, 80: 6}


class ReceiptWriter:
    def __init__(self, profile: str, paper_width_mm: int) -> None:
        # Imported on first use: python-escpos (and Pillow under it) is a fifth of the
        # agent's start-up, and a kiosk without a printer never writes a receipt.
        from hardware.printers.escpos_lib import printer

        self.paper_width_mm = paper_width_mm
        self._printer = printer.Dummy(profile=profile)
        font_a = int(self._printer.profile.fonts["0"]["columns"])
        self.columns = COLUMNS_58_MM if paper_width_mm == 58 else font_a
        pages = set(self._printer.profile.codePages.values())
        self.code_page = next((p for p in PREFERRED_CODE_PAGES if p in pages), None)
        self._printer.hw("INIT")
        if self.code_page is not None:
            self._printer.charcode(self.code_page)

    def title(self, text: str) -> None:
        self._printer.set(align="center", bold=True, double_height=True, double_width=True)
        # double width halves the columns
        self._line(text, self.columns // 2)
        self._printer.set(normal_textsize=True, bold=False, align="left")

    def text(self, text: str, bold: bool = False, center: bool = False) -> None:
        self._printer.set(bold=bold, align="center" if center else "left")
        for line in _wrap(text, self.columns):
            self._line(line, self.columns)
        self._printer.set(bold=False, align="left")

    def pair(self, left: str, right: str, bold: bool = False) -> None:
        """`left` and `right` on one line, right-aligned; `left` shortened to fit."""
        room = self.columns - len(right) - 1
        if room < 1:
            self.text(left, bold)
            self.text(right.rjust(self.columns), bold)
            return
        left = left if len(left) <= room else left[: max(room - 1, 0)] + "."
        self._printer.set(bold=bold)
        self._line(left.ljust(room) + " " + right, self.columns)
        self._printer.set(bold=False)

    def rule(self) -> None:
        self._line("-" * self.columns, self.columns)

    def blank(self) -> None:
        self._printer.textln("")

    def qr(self, content: str) -> None:
        self._printer.set(align="center")
        self._printer.qr(content, native=True, size=QR_MODULE_DOTS.get(self.paper_width_mm, 6))
        self._printer.set(align="left")

    def finish(self) -> bytes:
        """Feed past the tear bar, cut, and return every byte written."""
        self._printer.cut()
        return bytes(self._printer.output)

    def _line(self, text: str, width: int) -> None:
        # The profile says how many columns fit; a longer line would wrap mid-word.
        self._printer.textln(text[:width])


def _wrap(text: str, width: int) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        while len(word) > width:
            if current:
                lines.append(current)
                current = ""
            lines.append(word[:width])
            word = word[width:]
        candidate = f"{current} {word}".strip()
        if len(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current or not lines:
        lines.append(current)
    return lines
